//! `rotation-commands` (Service Bus queue): the orchestrator. A `rotate` command claims (or
//! joins) the credential's rotation and runs its phases as far as they go without waiting; a
//! `wake` command ticks a rotation that is due. Either way, the next due time is scheduled as a
//! `wake` message instead of a sleep.

use super::super::command::Command;
use super::super::{poison, Handler, Invocation, InvocationResponse, Retry};
use super::{driver_failure, service_bus_body};
use crate::core::Event;
use crate::driver::Started;

pub(crate) async fn run(h: &Handler, invocation: &Invocation) -> Result<InvocationResponse, Retry> {
    let (body, meta) = match service_bus_body(invocation, "command") {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    let what = meta.describe();
    let command = match Command::from_json(&body) {
        Ok(c) => c,
        Err(why) => return Ok(poison(&format!("command {what}"), why)),
    };
    let mut resp = InvocationResponse::default();
    match command {
        Command::Rotate { credential, trigger, expected_version } => {
            let Some(entry) = h.catalog.find(&credential) else {
                return Ok(poison(&format!("command {what}"), format!("credential {credential} is not in the policy")));
            };
            if let Some(expected) = expected_version {
                let current = h.secrets.current(&entry.plan.secret).await.map_err(|e| Retry(format!("{what}: {e}")))?;
                let current = current.map(|c| c.id.version);
                if current.as_ref() != Some(&expected) {
                    resp.log(format!("{credential}: version {expected} is no longer current; already rotated, nothing to do"));
                    return Ok(resp);
                }
            }
            let started = match h.orchestrator.start(entry.plan, trigger).await {
                Ok(s) => s,
                Err(e) => return driver_failure(&format!("rotate {credential} ({what})"), e),
            };
            let rotation = started.rotation();
            let how = if matches!(started, Started::New(_)) { "started" } else { "joined the rotation in flight" };
            resp.log(format!("{credential}: {how} {} (phase {})", rotation.id, rotation.phase.name()));
            h.schedule_wake(rotation, &mut resp).await?;
        }
        Command::Wake { rotation } => {
            let handled = match h.orchestrator.handle(&rotation, Event::Tick).await {
                Ok(x) => x,
                Err(e) => return driver_failure(&format!("wake {rotation} ({what})"), e),
            };
            resp.log(format!("rotation {rotation} is {}", handled.rotation.phase.name()));
            h.schedule_wake(&handled.rotation, &mut resp).await?;
        }
    }
    Ok(resp)
}
