//! The rotation operations the functions call, as a trait the handler owns.
//!
//! Production runs the [`Driver`] on Azure adapters; tests run the same driver on the memory
//! adapters. Keeping the functions behind this seam lets a test also substitute a failing
//! orchestrator to check the handler's failure semantics.

use crate::core::{Event, Plan, Trigger};
use crate::domain::RotationId;
use crate::driver::{Driver, DriverError, DryRun, Handled, Started};
use crate::protocol::{Ack, Heartbeat};
use async_trait::async_trait;

#[async_trait]
pub trait Orchestrator: Send + Sync {
    async fn start(&self, plan: Plan, trigger: Trigger) -> Result<Started, DriverError>;
    async fn handle(&self, id: &RotationId, event: Event) -> Result<Handled, DriverError>;
    async fn ack(&self, ack: Ack) -> Result<Handled, DriverError>;
    async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), DriverError>;
    async fn sweep(&self) -> Result<Vec<Handled>, DriverError>;
    async fn dry_run(&self, plan: &Plan) -> Result<DryRun, DriverError>;
}

#[async_trait]
impl Orchestrator for Driver {
    async fn start(&self, plan: Plan, trigger: Trigger) -> Result<Started, DriverError> {
        Driver::start(self, plan, trigger).await
    }
    async fn handle(&self, id: &RotationId, event: Event) -> Result<Handled, DriverError> {
        Driver::handle(self, id, event).await
    }
    async fn ack(&self, ack: Ack) -> Result<Handled, DriverError> {
        Driver::ack(self, ack).await
    }
    async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), DriverError> {
        Driver::heartbeat(self, heartbeat).await
    }
    async fn sweep(&self) -> Result<Vec<Handled>, DriverError> {
        Driver::sweep(self).await
    }
    async fn dry_run(&self, plan: &Plan) -> Result<DryRun, DriverError> {
        Driver::dry_run(self, plan).await
    }
}
