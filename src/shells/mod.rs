//! The programs around the core: the Functions custom handler, the CLI, the consumer agent.

pub mod agent;
pub mod cli;
pub mod demo;
pub mod handler;
pub mod settings;
