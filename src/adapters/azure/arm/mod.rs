//! Azure Resource Manager: a typed client with retries and long-running operations.

pub mod client;
pub mod error;
pub mod operation;
pub mod retry;

pub use client::{ArmClient, ArmResponse, LroOptions};
pub use error::{ArmCall, ArmError, ArmErrorBody};
pub use operation::{Operation, OperationState};
pub use retry::RetryPolicy;
