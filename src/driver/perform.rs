//! Performing one action against the ports and turning its result into an event.

use super::{Driver, DriverError};
use crate::core::{Action, Event, Phase, ProviderResult, Rotation};
use crate::ports::{ProviderError, PublishRequest, RegenerateOutcome};

impl Driver {
    /// Performs one action. `Ok(None)` means the action has no result the core waits for
    /// (a sent step, an alert) or was dropped because its lease ran out.
    pub(super) async fn perform(&self, rotation: &Rotation, action: Action) -> Result<Option<Event>, DriverError> {
        // An action starts only if it can finish before its lease ends: another instance
        // re-issues it when the lease is over, and a first attempt landing after that (a
        // regenerate after the new value was published) would break I1.
        if let Some(not_after) = action.not_after() {
            let limit = rotation.plan.timing.action_time_limit.to_chrono();
            if self.clock.now() + limit >= not_after {
                tracing::info!(rotation = %rotation.id, ?action, "lease ran out before the action started; the next tick re-issues it");
                return Ok(None);
            }
        }
        let plan = &rotation.plan;
        match action {
            Action::EvaluateGuards => {
                let provider = self.providers.provider(plan)?;
                Ok(Some(self.gather_guard_facts(rotation, provider.as_ref()).await))
            }
            Action::Regenerate { slot, force, .. } => {
                let provider = self.providers.provider(plan)?;
                tracing::info!(rotation = %rotation.id, %slot, force, "regenerating key");
                // The old slot's new value is never kept (DESIGN, Retire); the provider is told.
                let outcome = if rotation.phase == Phase::Retire {
                    provider.retire(slot, force).await
                } else {
                    provider.regenerate(slot, force).await
                };
                let result = provider_result(outcome);
                Ok(Some(Event::Regenerated { slot, result }))
            }
            Action::PollOperation { slot, operation, .. } => {
                let provider = self.providers.provider(plan)?;
                let result = provider_result(provider.poll(&operation).await);
                Ok(Some(Event::Regenerated { slot, result }))
            }
            Action::Publish { slot, .. } => {
                let result = self.publish(rotation, slot).await;
                Ok(Some(Event::Published { slot, result }))
            }
            Action::SendStep(step) => match self.steps.send_step(&step).await {
                Ok(()) => {
                    tracing::info!(rotation = %rotation.id, consumer = %step.consumer, attempt = step.attempt, "step sent");
                    Ok(None)
                }
                Err(e) => Ok(Some(Event::StepSendFailed { consumer: step.consumer.clone(), detail: e.to_string() })),
            },
            Action::CheckUsage { slot } => {
                let provider = self.providers.provider(plan)?;
                let result = provider.usage(slot).await.map_err(|e| e.to_string());
                Ok(Some(Event::Usage { slot, result }))
            }
            Action::Alert { reason } => {
                tracing::error!(
                    target: "keyrelay::alert",
                    rotation = %rotation.id,
                    credential = %plan.credential,
                    reason = %reason,
                    "rotation stalled; an operator must retry, roll back or force"
                );
                Ok(None)
            }
        }
    }

    /// Publish: reuse the version this rotation already wrote for this slot, if any (a repeat
    /// after a crash); otherwise read the slot's value from the provider and write it.
    async fn publish(&self, rotation: &Rotation, slot: crate::domain::Slot) -> Result<crate::domain::SecretVersion, (String, bool)> {
        let plan = &rotation.plan;
        let transient = |e: &dyn std::fmt::Display| (e.to_string(), true);
        match self.secrets.find_by_rotation(&plan.secret, &rotation.id, slot).await {
            Ok(Some(existing)) => return Ok(existing.id.version),
            Ok(None) => {}
            Err(e) => return Err(transient(&e)),
        }
        let provider = self.providers.provider(plan).map_err(|e| (e.to_string(), false))?;
        let value = provider.read(slot).await.map_err(|e| match e {
            ProviderError::Failed { detail, transient } => (detail, transient),
            other => (other.to_string(), true),
        })?;
        let now = self.clock.now();
        let request = PublishRequest {
            slot,
            rotation: rotation.id.clone(),
            resource_id: plan.resource_id.clone(),
            content_type: plan.content_type.clone(),
            not_before: None,
            expires: Some(plan.expires_from(now)),
        };
        self.secrets.publish(&plan.secret, &value, &request).await.map(|v| v.id.version).map_err(|e| transient(&e))
    }
}

fn provider_result(result: Result<RegenerateOutcome, ProviderError>) -> ProviderResult {
    match result {
        Ok(RegenerateOutcome::Done) => ProviderResult::Done,
        Ok(RegenerateOutcome::Pending { operation, retry_after }) => ProviderResult::Pending { operation, retry_after },
        Err(ProviderError::Throttled { retry_after }) => ProviderResult::Throttled { retry_after },
        Err(ProviderError::KeyUsedRecently { detail }) => ProviderResult::KeyUsedRecently { detail },
        Err(ProviderError::KeyAuthDisabled { switch }) => ProviderResult::KeyAuthDisabled { switch },
        Err(ProviderError::Failed { detail, transient }) => ProviderResult::Failed { detail, transient },
    }
}
