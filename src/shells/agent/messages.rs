//! The messages the agent emits: acks with their proof of possession, heartbeats, and the
//! MessageIds they travel under.

use crate::domain::{ConsumerId, CredentialName, SecretValue, SecretVersion, Slot};
use crate::protocol::{Ack, Heartbeat, Step, HEARTBEAT_SCHEMA};
use chrono::{DateTime, Utc};

/// An ack for `step`. The proof is computed whenever the agent holds the key, healthy or not:
/// keyrelay only trusts an "unhealthy" report from the consumer the step was for, too. With no
/// key (the version could not be fetched) the proof is empty and keyrelay stalls the rotation
/// on the failed proof, which is the right outcome for a consumer that could not load the key.
pub fn ack_for(step: &Step, key: Option<&SecretValue>, healthy: bool, detail: &str, now: DateTime<Utc>) -> Ack {
    // No key (the version could not be read): an empty proof, which keyrelay refuses.
    let mut ack = match key {
        Some(k) => Ack::answering(step, k, healthy, redact(detail, k), Some(now)),
        None => Ack { proof: String::new(), ..Ack::answering(step, &SecretValue::new(""), healthy, detail, Some(now)) },
    };
    ack.detail = ack.bounded_detail();
    ack
}

/// `ack:{rotation}:{consumer}:{attempt}`. The attempt is part of it because a consumer that
/// acked unhealthy and is retried must be able to ack again inside the duplicate-detection
/// window; repeats of the same attempt are dropped by Service Bus.
pub fn ack_message_id(step: &Step) -> String {
    format!("ack:{}:{}:{}", step.rotation_id, step.consumer, step.attempt)
}

pub fn heartbeat_for(
    consumer: &ConsumerId,
    credential: &CredentialName,
    version: &SecretVersion,
    slot: Option<Slot>,
    now: DateTime<Utc>,
) -> Heartbeat {
    Heartbeat {
        schema: HEARTBEAT_SCHEMA.into(),
        consumer: consumer.clone(),
        credential: credential.clone(),
        version: version.clone(),
        slot,
        at: now,
    }
}

/// `heartbeat:{consumer}:{credential}:{unix seconds}`: unique per beat, so duplicate detection
/// only drops a re-sent copy of the same beat.
pub fn heartbeat_message_id(hb: &Heartbeat) -> String {
    format!("heartbeat:{}:{}:{}", hb.consumer, hb.credential, hb.at.timestamp())
}

/// Removes the key from a text that is about to leave the agent (a probe's error, a hook's
/// stderr): a misbehaving server or script may echo what it was given.
pub fn redact(text: &str, key: &SecretValue) -> String {
    if key.is_empty() {
        return text.to_string();
    }
    text.replace(key.expose(), "<redacted>")
}
