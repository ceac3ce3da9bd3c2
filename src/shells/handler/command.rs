//! `keyrelay.command/v1`: the messages keyrelay sends itself on the rotation-commands queue.
//!
//! Triggers (timer, Key Vault events, the API) never rotate inline: they enqueue a `rotate`
//! command and answer. The orchestrator never sleeps: a wait longer than a message lock becomes
//! a `wake` command scheduled for the time the rotation is next due. MessageIds are
//! deterministic so Service Bus duplicate detection drops redeliveries; the rotation store's
//! compare-and-swap is the second line of defence.

use crate::core::Trigger;
use crate::domain::{CredentialName, RotationId, SecretVersion};
use crate::ports::{QueuedCommand, SecretRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const COMMAND_SCHEMA: &str = "keyrelay.command/v1";

/// Longest command body accepted; real ones are a few hundred bytes.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "camelCase", deny_unknown_fields)]
pub enum Command {
    /// Start (or join) a rotation of a credential.
    #[serde(rename_all = "camelCase")]
    Rotate {
        credential: CredentialName,
        trigger: Trigger,
        /// For event-driven rotations: the version the event was about. If Key Vault's current
        /// version is another one by the time the command runs, the credential was rotated in
        /// between and the command is dropped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_version: Option<SecretVersion>,
    },
    /// Re-examine a rotation that is due (deadline, poll, soak end, retry).
    #[serde(rename_all = "camelCase")]
    Wake { rotation: RotationId },
}

impl Command {
    /// The JSON body, with the schema name.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("commands serialize");
        v.as_object_mut().expect("commands are objects").insert("schema".into(), Value::String(COMMAND_SCHEMA.into()));
        v
    }

    /// Parses a body: checks the size and the schema name, then the fields (unknown ones are
    /// refused so a malformed command is a clear poison message, not a half-understood one).
    pub fn from_json(body: &[u8]) -> Result<Command, String> {
        if body.len() > MAX_COMMAND_BYTES {
            return Err(format!("command of {} bytes exceeds the {MAX_COMMAND_BYTES}-byte limit", body.len()));
        }
        let mut v = crate::protocol::schema_checked(body, COMMAND_SCHEMA)?;
        // The command's fields are a tagged enum that refuses unknown fields; `schema` is the
        // envelope's, checked above.
        v.as_object_mut().expect("a value naming a schema is an object").remove("schema");
        serde_json::from_value(v).map_err(|e| format!("not a valid {COMMAND_SCHEMA}: {e}"))
    }
}

/// `rotate:{vault}:{secret}:{version}`: the timer and a Key Vault event about the same current
/// version produce the same id, so only one of them gets through duplicate detection.
pub fn rotate_message_id(secret: &SecretRef, version: Option<&SecretVersion>) -> String {
    format!("rotate:{}:{}:{}", secret.vault, secret.name, version.map(|v| v.as_str()).unwrap_or("none"))
}

/// `wake:{rotation}:{unix seconds}`: one wake-up per rotation and due time.
pub fn wake_message_id(rotation: &RotationId, at: DateTime<Utc>) -> String {
    format!("wake:{rotation}:{}", at.timestamp())
}

/// A command as a queue message.
pub fn queued(command: &Command, message_id: String, not_before: Option<DateTime<Utc>>) -> QueuedCommand {
    let correlation_id = match command {
        Command::Rotate { credential, .. } => credential.to_string(),
        Command::Wake { rotation } => rotation.to_string(),
    };
    QueuedCommand {
        message_id,
        body: command.to_json(),
        not_before,
        correlation_id: Some(correlation_id),
        properties: BTreeMap::from([("schema".to_string(), COMMAND_SCHEMA.to_string())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_strangers() {
        let cmd = Command::Rotate {
            credential: CredentialName::parse("cache").unwrap(),
            trigger: Trigger::Schedule,
            expected_version: Some(SecretVersion::parse("abc").unwrap()),
        };
        let body = cmd.to_json().to_string();
        assert!(body.contains(COMMAND_SCHEMA));
        assert_eq!(Command::from_json(body.as_bytes()).unwrap(), cmd);
        let wake = Command::Wake { rotation: RotationId::parse("r-1").unwrap() };
        assert_eq!(Command::from_json(wake.to_json().to_string().as_bytes()).unwrap(), wake);
        assert!(Command::from_json(b"nope").unwrap_err().contains("not JSON"));
        assert!(Command::from_json(br#"{"command":"wake","rotation":"r"}"#).unwrap_err().contains("no \"schema\""));
        assert!(Command::from_json(br#"{"schema":"keyrelay.command/v9"}"#).unwrap_err().contains("unknown message schema"));
        let extra = br#"{"schema":"keyrelay.command/v1","command":"wake","rotation":"r","x":1}"#;
        assert!(Command::from_json(extra).is_err());
        assert!(Command::from_json(&vec![b' '; MAX_COMMAND_BYTES + 1]).unwrap_err().contains("limit"));
    }

    #[test]
    fn message_ids_are_deterministic() {
        let s = SecretRef { vault: "kv.vault.azure.net".into(), name: "k".into() };
        let v = SecretVersion::parse("ee05").unwrap();
        assert_eq!(rotate_message_id(&s, Some(&v)), "rotate:kv.vault.azure.net:k:ee05");
        assert_eq!(rotate_message_id(&s, None), "rotate:kv.vault.azure.net:k:none");
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(wake_message_id(&RotationId::parse("r1").unwrap(), at), "wake:r1:1700000000");
    }
}
