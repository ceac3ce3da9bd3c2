//! Domain types, parsed at the edge.
//!
//! Every value that enters keyrelay from outside (a policy file, an HTTP request, a Service Bus
//! message, an Event Grid event) is turned into one of these types by its `parse` constructor
//! before anything else looks at it. Past that point the rest of the code can rely on the
//! invariants each type documents instead of re-checking strings everywhere.

mod duration;
mod error;
mod names;
mod secret;
mod slot;
mod version;
mod wave;

pub use duration::HumanDuration;
pub use error::ParseError;
pub use names::{ConsumerId, CredentialName, Nonce, RotationId};
pub use secret::SecretValue;
pub use slot::Slot;
pub use version::{SecretId, SecretVersion};
pub use wave::Wave;
