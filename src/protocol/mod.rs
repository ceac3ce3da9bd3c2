//! The wire contract between keyrelay and its consumers: the three Service Bus message
//! schemas and the proof of possession. JSON Schemas for them live in `schemas/`; consumers in
//! other languages implement exactly what is here.

mod messages;
mod proof;

pub use messages::{schema_checked, schema_of, Ack, Heartbeat, Step, ACK_SCHEMA, HEARTBEAT_SCHEMA, STEP_SCHEMA};
pub use proof::{proof_for, verify_proof, Proof};
