//! Waits become scheduled messages: after the orchestrator moved a rotation, the next time it
//! is due (deadline, poll, soak end, resend) is enqueued as a `wake` command delivered no
//! earlier than that. The sweeper is the backstop if such a message is lost.

use super::command::{queued, wake_message_id, Command};
use super::{Handler, InvocationResponse, Retry};
use crate::core::Rotation;
use chrono::Duration;

/// A wake-up is never scheduled sooner than this: a rotation that is due "now" would otherwise
/// bounce between the queue and the orchestrator as fast as they can go.
const MIN_WAKE_DELAY_SECS: i64 = 2;

impl Handler {
    pub(crate) async fn schedule_wake(&self, rotation: &Rotation, resp: &mut InvocationResponse) -> Result<(), Retry> {
        let Some(at) = rotation.wake_at() else { return Ok(()) };
        let not_before = at.max(self.clock.now() + Duration::seconds(MIN_WAKE_DELAY_SECS));
        let command = Command::Wake { rotation: rotation.id.clone() };
        let message = queued(&command, wake_message_id(&rotation.id, at), Some(not_before));
        self.commands
            .enqueue(&message)
            .await
            .map_err(|e| Retry(format!("could not schedule the wake-up of rotation {}: {e}", rotation.id)))?;
        resp.log(format!("rotation {} ({}) wakes at {}", rotation.id, rotation.phase.name(), not_before.to_rfc3339()));
        Ok(())
    }
}
