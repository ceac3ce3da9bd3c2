//! `schedule` (timer): enqueue a rotate command for every credential that is due — its Key
//! Vault secret expires within the expiry lead, or its last rotation is older than its cadence.
//!
//! It only reads and enqueues. The MessageId is the one a Key Vault event about the same
//! version would produce, so a timer run and a SecretNearExpiry together start one rotation.

use super::super::command::{queued, rotate_message_id, Command};
use super::super::metadata;
use super::super::{CatalogEntry, Handler, Invocation, InvocationResponse, Retry};
use crate::core::Trigger;
use crate::ports::RotationFilter;
use chrono::{DateTime, Utc};

pub(crate) async fn run(h: &Handler, invocation: &Invocation) -> Result<InvocationResponse, Retry> {
    let mut resp = InvocationResponse::default();
    if let Some(timer) = invocation.trigger("timer") {
        if timer.get("IsPastDue").and_then(|v| v.as_bool().or_else(|| metadata::text(v).map(|s| s == "true"))) == Some(true) {
            resp.log("timer is past due (the app was down or busy); checking now");
        }
        let last = timer.get("ScheduleStatus").and_then(|s| s.get("Last")).and_then(metadata::time);
        if last.is_none() {
            resp.log("first run of the schedule (no previous run recorded)");
        }
    }
    let now = h.clock.now();
    let mut failures = Vec::new();
    let mut enqueued = 0;
    for entry in h.catalog.entries() {
        let name = entry.plan.credential.clone();
        match check(h, &entry, now).await {
            Ok(Some((reason, message))) => match h.commands.enqueue(&message).await {
                Ok(()) => {
                    enqueued += 1;
                    resp.log(format!("{name}: due ({reason}); rotate command {} enqueued", message.message_id));
                }
                Err(e) => failures.push(format!("{name}: could not enqueue: {e}")),
            },
            Ok(None) => {}
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    resp.log(format!("schedule: {enqueued} rotation(s) enqueued"));
    if failures.is_empty() {
        Ok(resp)
    } else {
        // The commands that were enqueued stay enqueued; their MessageIds make a rerun harmless.
        Err(Retry(format!("schedule could not check every credential: {}", failures.join("; "))))
    }
}

/// Why the credential is due and the command to enqueue, or None if it is not due.
async fn check(h: &Handler, entry: &CatalogEntry, now: DateTime<Utc>) -> Result<Option<(String, crate::ports::QueuedCommand)>, String> {
    let plan = &entry.plan;
    if let Some(r) = h.store.in_flight(&plan.credential).await.map_err(|e| e.to_string())? {
        tracing::debug!(credential = %plan.credential, rotation = %r.rotation.id, "rotation already in flight");
        return Ok(None);
    }
    let current = h.secrets.current(&plan.secret).await.map_err(|e| e.to_string())?;
    let mut reason = None;
    if let Some(exp) = current.as_ref().and_then(|c| c.expires) {
        if exp <= now + h.options.expiry_lead.to_chrono() {
            reason = Some(format!("secret expires at {}", exp.to_rfc3339()));
        }
    }
    if let (None, Some(cadence)) = (&reason, entry.cadence) {
        let filter = RotationFilter { credential: Some(plan.credential.clone()), phases: vec!["completed".into()], ..RotationFilter::default() };
        let last_rotation = h.store.list(&filter).await.map_err(|e| e.to_string())?.into_iter().filter_map(|s| s.rotation.finished_at).max();
        let last = last_rotation.or(current.as_ref().and_then(|c| c.created));
        reason = match last {
            Some(t) if now - t < cadence.to_chrono() => None,
            Some(t) => Some(format!("last rotated {}, cadence {cadence}", t.to_rfc3339())),
            None => Some("never rotated".into()),
        };
    }
    Ok(reason.map(|reason| {
        let version = current.as_ref().map(|c| c.id.version.clone());
        let command = Command::Rotate { credential: plan.credential.clone(), trigger: Trigger::Schedule, expected_version: version.clone() };
        (reason, queued(&command, rotate_message_id(&plan.secret, version.as_ref()), None))
    }))
}
