//! The Azure Functions custom handler: one axum server, one route per function.
//!
//! The Functions host starts `keyrelay serve`, waits for `GET /` to answer, then POSTs one
//! `{Data, Metadata}` envelope per trigger to `/{function}` and expects
//! `{Outputs, Logs, ReturnValue}` back (protocols.md §9). Any non-2xx answer fails the
//! invocation, which makes Service Bus redeliver and Event Grid retry — so the handler answers
//! non-2xx only for *transient* failures, and answers 2xx with a log line for *poison* input
//! (not JSON, unknown schema, too large), which must not be retried forever. Malformed input
//! never reaches the rotation store.
//!
//! The functions never rotate inline and never sleep: triggers enqueue `keyrelay.command/v1`
//! messages, the `rotation-commands` function runs the driver, and a wait becomes a scheduled
//! `wake` command.

pub mod api;
pub mod catalog;
pub mod command;
pub mod envelope;
mod functions;
pub mod keyvault_event;
pub mod metadata;
pub mod orchestrator;
mod router;
mod wake;

pub use catalog::{Catalog, CatalogEntry, StaticCatalog};
pub use command::{Command, COMMAND_SCHEMA};
pub use envelope::{Invocation, InvocationResponse};
pub use orchestrator::Orchestrator;
pub use router::{router, MAX_INVOCATION_BYTES};

use crate::domain::HumanDuration;
use crate::ports::{Clock, CommandQueue, RotationStore, SecretStore};
use std::sync::Arc;

/// One function of the app: its folder name under `function-defs/` (= the route the host
/// calls), its trigger type, and the trigger binding's name (= the `Data` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub trigger_type: &'static str,
    pub binding: &'static str,
}

pub const FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec { name: "schedule", trigger_type: "timerTrigger", binding: "timer" },
    FunctionSpec { name: "keyvault-events", trigger_type: "eventGridTrigger", binding: "event" },
    FunctionSpec { name: "rotation-commands", trigger_type: "serviceBusTrigger", binding: "command" },
    FunctionSpec { name: "reload-acks", trigger_type: "serviceBusTrigger", binding: "message" },
    FunctionSpec { name: "sweeper", trigger_type: "timerTrigger", binding: "timer" },
    FunctionSpec { name: "api", trigger_type: "httpTrigger", binding: "req" },
];

/// The http output binding's name in the `api` function.
pub const HTTP_OUTPUT: &str = "res";

/// Tunables that come from app settings.
#[derive(Debug, Clone)]
pub struct HandlerOptions {
    /// `KEYRELAY_EXPIRY_LEAD`: the schedule rotates a secret expiring within this.
    pub expiry_lead: HumanDuration,
}

impl Default for HandlerOptions {
    fn default() -> Self {
        HandlerOptions { expiry_lead: HumanDuration::from_secs(7 * 86_400) }
    }
}

/// Everything the functions use. The orchestrator is the driver; the store, secrets and clock
/// are the same instances the driver runs on (the functions read from them, never write).
pub struct Handler {
    pub orchestrator: Arc<dyn Orchestrator>,
    pub catalog: Arc<dyn Catalog>,
    pub commands: Arc<dyn CommandQueue>,
    pub store: Arc<dyn RotationStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub clock: Arc<dyn Clock>,
    pub options: HandlerOptions,
}

/// A failure worth retrying: the handler answers 500 and the host retries or redelivers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Retry(pub String);

impl Handler {
    /// Runs one function. `Err` means "fail this invocation so it is retried".
    pub async fn invoke(&self, function: &str, invocation: &Invocation) -> Result<InvocationResponse, Retry> {
        match function {
            "schedule" => functions::schedule::run(self, invocation).await,
            "keyvault-events" => functions::keyvault_events::run(self, invocation).await,
            "rotation-commands" => functions::rotation_commands::run(self, invocation).await,
            "reload-acks" => functions::reload_acks::run(self, invocation).await,
            "sweeper" => functions::sweeper::run(self).await,
            "api" => Ok(api::run(self, invocation).await),
            other => Ok(InvocationResponse::with_log(format!("no function named {other:?}"))),
        }
    }
}

/// Poison input: rejected once, logged with what was wrong, answered 2xx so the host does not
/// retry it. Nothing was changed.
pub(crate) fn poison(what: &str, why: impl std::fmt::Display) -> InvocationResponse {
    let line = format!("rejected {what}: {why} (not retried; rotation state unchanged)");
    tracing::warn!(target: "keyrelay::poison", "{line}");
    InvocationResponse { logs: vec![line], ..InvocationResponse::default() }
}
