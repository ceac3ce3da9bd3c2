use crate::domain::{SecretValue, Slot};
use crate::ports::{KeyAuthStatus, KeyProvider, ProviderError, RegenerateOutcome};
use async_trait::async_trait;
use std::sync::Mutex;

/// Two keys in memory. Each regenerate draws the next value from a counter and a label, so
/// values are unique and recognisable in leak searches (`{label}-key-{n}`).
pub struct MemoryProvider {
    label: String,
    inner: Mutex<Keys>,
}

struct Keys {
    primary: SecretValue,
    secondary: SecretValue,
    generation: u64,
    regenerations: Vec<Slot>,
}

impl MemoryProvider {
    pub fn new(label: &str) -> Self {
        MemoryProvider {
            label: label.to_string(),
            inner: Mutex::new(Keys {
                primary: SecretValue::new(format!("{label}-key-1")),
                secondary: SecretValue::new(format!("{label}-key-2")),
                generation: 2,
                regenerations: Vec::new(),
            }),
        }
    }

    pub fn value(&self, slot: Slot) -> SecretValue {
        let k = self.inner.lock().unwrap();
        match slot {
            Slot::Primary => k.primary.clone(),
            Slot::Secondary => k.secondary.clone(),
        }
    }

    /// Slots regenerated so far, in order.
    pub fn regenerations(&self) -> Vec<Slot> {
        self.inner.lock().unwrap().regenerations.clone()
    }
}

#[async_trait]
impl KeyProvider for MemoryProvider {
    fn describe(&self) -> String {
        format!("in-memory two-key resource {}", self.label)
    }

    async fn key_auth(&self) -> Result<KeyAuthStatus, ProviderError> {
        Ok(KeyAuthStatus::Enabled)
    }

    async fn read(&self, slot: Slot) -> Result<SecretValue, ProviderError> {
        Ok(self.value(slot))
    }

    async fn regenerate(&self, slot: Slot, _force: bool) -> Result<RegenerateOutcome, ProviderError> {
        let mut k = self.inner.lock().unwrap();
        k.generation += 1;
        let value = SecretValue::new(format!("{}-key-{}", self.label, k.generation));
        match slot {
            Slot::Primary => k.primary = value,
            Slot::Secondary => k.secondary = value,
        }
        k.regenerations.push(slot);
        Ok(RegenerateOutcome::Done)
    }

    async fn poll(&self, _operation: &str) -> Result<RegenerateOutcome, ProviderError> {
        Ok(RegenerateOutcome::Done)
    }
}
