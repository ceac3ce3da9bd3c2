//! `keyrelay evidence <rotation>`: one rotation's evidence (JSON or Markdown) from the rotation
//! store the app settings name (`KEYRELAY_STATE_STORE`), printed or written to a file. The
//! record holds no secret value, so neither does the evidence.

use crate::adapters::azure::http::HttpOptions;
use crate::domain::RotationId;
use crate::shells::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvidenceFormat {
    Json,
    Markdown,
}

/// The evidence text of `rotation` in `format`.
pub async fn evidence(settings: &Settings, rotation: &str, format: EvidenceFormat) -> anyhow::Result<String> {
    let id = RotationId::parse(rotation).map_err(|e| anyhow::anyhow!("rotation id {rotation:?}: {e}"))?;
    let http = HttpOptions::from_env()?;
    let credential = super::wiring::identity_settings(settings)?.credential(&http)?;
    let store = super::wiring::rotation_store(settings, credential, &http)?;
    let record = store
        .load(&id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no rotation {id} in the state store {:?}", settings.state_store))?
        .rotation;
    Ok(match format {
        EvidenceFormat::Json => serde_json::to_string_pretty(&crate::evidence::render_json(&record))?,
        EvidenceFormat::Markdown => crate::evidence::render_markdown(&record),
    })
}
