//! The programs around the core: the Functions custom handler, the CLI, the consumer agent.

pub mod agent;
pub mod demo;
