//! `keyvault-events` (Event Grid): SecretNearExpiry / SecretExpired for the *current* version
//! of a managed secret enqueue a rotate command; nothing else happens here, because Event Grid
//! waits 30 seconds at most. An event about an older version is dropped (that version was
//! already rotated away); SecretNewVersionCreated for a version keyrelay did not write is a
//! warning (someone changed the secret by hand); any other event is acknowledged and ignored.

use super::super::command::{queued, rotate_message_id, Command};
use super::super::keyvault_event::{parse_events, EventKind, KeyVaultEvent};
use super::super::{poison, Handler, Invocation, InvocationResponse, Retry};
use crate::core::Trigger;

pub(crate) async fn run(h: &Handler, invocation: &Invocation) -> Result<InvocationResponse, Retry> {
    let Some(value) = invocation.trigger("event") else {
        return Ok(poison("Event Grid invocation", "it has no Data.event"));
    };
    let mut resp = InvocationResponse::default();
    for parsed in parse_events(value) {
        match parsed {
            Err(why) => resp.logs.extend(poison("event", why).logs),
            Ok(event) => match event.kind {
                EventKind::NearExpiry | EventKind::Expired => rotate_if_current(h, &event, &mut resp).await?,
                EventKind::NewVersionCreated => check_writer(h, &event, &mut resp).await?,
                EventKind::Other => resp.log(format!("ignored {} event {}", event.event_type, event.event_id)),
            },
        }
    }
    Ok(resp)
}

/// The credentials this event's secret belongs to; logs when there is none.
fn owners(h: &Handler, event: &KeyVaultEvent, resp: &mut InvocationResponse) -> Vec<super::super::CatalogEntry> {
    let secret = event.secret.as_deref().unwrap_or_default();
    let owners = h.catalog.by_secret(&|vault| event.names_vault(vault), secret);
    if owners.is_empty() {
        let vault = event.vault_host.as_deref().or(event.vault_name.as_deref()).unwrap_or("?");
        resp.log(format!("ignored {} for {vault}/{secret}: no credential in the policy uses this secret", event.event_type));
    }
    owners
}

async fn rotate_if_current(h: &Handler, event: &KeyVaultEvent, resp: &mut InvocationResponse) -> Result<(), Retry> {
    let version = event.version.clone().expect("parser guarantees a version for secret events");
    for entry in owners(h, event, resp) {
        let plan = &entry.plan;
        let current = h
            .secrets
            .current(&plan.secret)
            .await
            .map_err(|e| Retry(format!("could not read the current version of {}/{}: {e}", plan.secret.vault, plan.secret.name)))?;
        let current_version = current.map(|c| c.id.version);
        if current_version.as_ref() != Some(&version) {
            resp.log(format!(
                "dropped {} for {}: version {version} is not the current one ({}); it was already rotated",
                event.event_type,
                plan.credential,
                current_version.map(|v| v.to_string()).unwrap_or_else(|| "none".into())
            ));
            continue;
        }
        let command = Command::Rotate {
            credential: plan.credential.clone(),
            trigger: Trigger::KeyVaultEvent { event_type: event.event_type.clone(), version: version.to_string() },
            expected_version: Some(version.clone()),
        };
        let message = queued(&command, rotate_message_id(&plan.secret, Some(&version)), None);
        h.commands.enqueue(&message).await.map_err(|e| Retry(format!("could not enqueue {}: {e}", message.message_id)))?;
        resp.log(format!("{} for {}: rotate command {} enqueued", event.event_type, plan.credential, message.message_id));
    }
    Ok(())
}

async fn check_writer(h: &Handler, event: &KeyVaultEvent, resp: &mut InvocationResponse) -> Result<(), Retry> {
    let version = event.version.clone().expect("parser guarantees a version for secret events");
    for entry in owners(h, event, resp) {
        let id = entry.plan.secret.id_of(&version);
        match h.secrets.version_info(&id).await {
            Ok(info) => match info.rotation {
                Some(rotation) => resp.log(format!("new version {version} of {} was published by rotation {rotation}", entry.plan.credential)),
                None => {
                    let line = format!(
                        "WARNING: new version {version} of {} was not written by keyrelay; someone changed the secret by hand",
                        entry.plan.credential
                    );
                    tracing::warn!(credential = %entry.plan.credential, %version, "secret version not written by keyrelay");
                    resp.logs.push(line);
                }
            },
            Err(crate::ports::SecretStoreError::NotFound(_)) => {
                resp.log(format!("new version {version} of {} no longer exists; ignored", entry.plan.credential))
            }
            Err(e) => return Err(Retry(format!("could not read version {version} of {}: {e}", entry.plan.credential))),
        }
    }
    Ok(())
}
