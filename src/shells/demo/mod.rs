//! `keyrelay demo`: a full rotation a newcomer can watch, with no Azure account.
//!
//! The default runs on the local Azure twin ([`twin`]): real `keyrelay serve`, real
//! redis-server, consumers under live traffic. The embedded variant (`--in-memory`) runs the
//! core and driver against the in-memory ports, for machines without redis-server. Either way
//! the summary's "failed consumer requests" is measured, not asserted.

mod embedded;
mod timeline;
pub mod twin;

pub use embedded::{run_embedded, succeeded, DemoOptions, DemoSummary};
pub use twin::{run_twin, Faults, TwinDemo};

use crate::core::Rotation;
use std::path::{Path, PathBuf};

/// Writes a rotation's JSON and Markdown evidence into `dir` as `<rotation>.json` / `.md`.
pub fn write_evidence(rotation: &Rotation, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let json = dir.join(format!("{}.json", rotation.id));
    let markdown = dir.join(format!("{}.md", rotation.id));
    std::fs::write(&json, serde_json::to_string_pretty(&crate::evidence::render_json(rotation))?)?;
    std::fs::write(&markdown, crate::evidence::render_markdown(rotation))?;
    Ok((json, markdown))
}
