//! Two-key Azure resources: one generic provider driven by the [`KINDS`] table.

pub mod kinds;
pub mod provider;
pub mod resource_id;

pub use kinds::{all_actions, KeyAuthSwitch, KeyField, RegenerateShape, ResourceKind, SlotSpec, SwitchOn, KINDS};
pub use provider::{extract_key, regenerate_request, ArmKeyProvider, ValueForm, SKIP_USAGE_CHECK};
pub use resource_id::ResourceId;
