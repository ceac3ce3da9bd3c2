//! `reload-acks` (Service Bus queue): consumers' acks advance rotations; heartbeats feed the
//! inventory of who holds which version. The body names its schema; anything else is poison.

use super::super::{poison, Handler, Invocation, InvocationResponse, Retry};
use super::{driver_failure, service_bus_body};
use crate::core::Verdict;
use crate::protocol::{Ack, Heartbeat, ACK_SCHEMA, HEARTBEAT_SCHEMA};

pub(crate) async fn run(h: &Handler, invocation: &Invocation) -> Result<InvocationResponse, Retry> {
    let (body, meta) = match service_bus_body(invocation, "message") {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    let what = meta.describe();
    let schema = crate::protocol::schema_of(&body);
    let mut resp = InvocationResponse::default();
    match schema.as_deref() {
        Some(HEARTBEAT_SCHEMA) => {
            let hb = match Heartbeat::from_json(&body) {
                Ok(hb) => hb,
                Err(why) => return Ok(poison(&format!("heartbeat {what}"), why)),
            };
            if let Err(e) = h.orchestrator.heartbeat(&hb).await {
                return driver_failure(&format!("heartbeat {what}"), e);
            }
            resp.log(format!("heartbeat: {} holds version {} of {}", hb.consumer, hb.version, hb.credential));
        }
        _ => {
            // An ack, or poison: Ack::from_json names what is wrong (not JSON, no schema, ...).
            let ack = match Ack::from_json(&body) {
                Ok(ack) => ack,
                Err(why) => return Ok(poison(&format!("ack {what}"), format!("{why} (expected {ACK_SCHEMA} or {HEARTBEAT_SCHEMA})"))),
            };
            let (rotation, consumer) = (ack.rotation_id.clone(), ack.consumer.clone());
            let handled = match h.orchestrator.ack(ack).await {
                Ok(x) => x,
                Err(e) => return driver_failure(&format!("ack from {consumer} for {rotation} ({what})"), e),
            };
            let line = match &handled.verdict {
                Verdict::Accepted => format!("ack from {consumer} for rotation {rotation} accepted"),
                Verdict::Ignored(why) => format!("ack from {consumer} for rotation {rotation} ignored: {why}"),
                Verdict::Rejected(why) => format!("ack from {consumer} for rotation {rotation} REJECTED: {why}"),
            };
            resp.log(line);
            resp.log(format!("rotation {rotation} is {}", handled.rotation.phase.name()));
            h.schedule_wake(&handled.rotation, &mut resp).await?;
        }
    }
    Ok(resp)
}
