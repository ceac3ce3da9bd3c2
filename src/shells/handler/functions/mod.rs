//! The five event-driven functions (the HTTP API is in `api/`).

pub(super) mod keyvault_events;
pub(super) mod reload_acks;
pub(super) mod rotation_commands;
pub(super) mod schedule;
pub(super) mod sweeper;

use super::envelope::decode_payload;
use super::metadata::ServiceBusMeta;
use super::{poison, Invocation, InvocationResponse, Retry};
use crate::driver::DriverError;

/// A driver failure as the host should see it: transient ones are retried, the others are
/// poison (retrying an invalid command cannot help).
fn driver_failure(what: &str, error: DriverError) -> Result<InvocationResponse, Retry> {
    match error {
        DriverError::Transient(why) => Err(Retry(format!("{what}: {why}"))),
        other => Ok(poison(what, other)),
    }
}

/// The body of a Service Bus trigger as bytes, with its metadata; poison if there is none.
fn service_bus_body(invocation: &Invocation, binding: &str) -> Result<(Vec<u8>, ServiceBusMeta), InvocationResponse> {
    let meta = ServiceBusMeta::read(&invocation.metadata);
    match invocation.trigger(binding) {
        Some(value) if !value.is_null() => Ok((decode_payload(value), meta)),
        _ => Err(poison(&meta.describe(), format!("the invocation has no Data.{binding} (the message body)"))),
    }
}
