//! `keyrelay package`: the deployable zip of a Linux custom handler app, laid out as the
//! Functions host expects: `host.json` at the root, one `<function>/function.json` per
//! function (from `function-defs/`), and the executable under the name host.json's
//! `customHandler.description.defaultExecutablePath` gives it, marked executable.

use anyhow::{bail, Context};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// The directory holding `host.json` and `function-defs/` (the repository root).
    pub app_dir: PathBuf,
    /// The Linux executable to ship (build it with `cargo build --release`).
    pub binary: PathBuf,
    /// A policy file to ship as `policy.toml` beside host.json (the `KEYRELAY_POLICY` default).
    pub policy: Option<PathBuf>,
    pub out: PathBuf,
}

/// What went into the zip.
#[derive(Debug, Clone)]
pub struct PackageReport {
    pub entries: Vec<String>,
    pub functions: Vec<String>,
}

/// The executable path host.json names.
pub fn executable_name(host_json: &Value) -> anyhow::Result<String> {
    let path = host_json
        .pointer("/customHandler/description/defaultExecutablePath")
        .and_then(Value::as_str)
        .context("host.json has no customHandler.description.defaultExecutablePath")?;
    if path.is_empty() || path.starts_with('/') || path.contains("..") {
        bail!("host.json defaultExecutablePath {path:?} must be a relative path inside the app");
    }
    Ok(path.to_string())
}

pub fn package(opts: &PackageOptions) -> anyhow::Result<PackageReport> {
    let host_path = opts.app_dir.join("host.json");
    let host_text = std::fs::read_to_string(&host_path).with_context(|| format!("reading {}", host_path.display()))?;
    let host: Value = serde_json::from_str(&host_text).with_context(|| format!("{} is not JSON", host_path.display()))?;
    let exe_name = executable_name(&host)?;
    let binary = std::fs::read(&opts.binary).with_context(|| format!("reading the executable {}", opts.binary.display()))?;
    if !binary.starts_with(b"\x7fELF") {
        bail!("{} is not a Linux (ELF) executable; Azure Functions on Linux runs the custom handler natively", opts.binary.display());
    }
    let functions = function_defs(&opts.app_dir.join("function-defs"))?;

    let file = std::fs::File::create(&opts.out).with_context(|| format!("creating {}", opts.out.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let text = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).unix_permissions(0o644);
    let exec = text.unix_permissions(0o755);
    let mut entries = Vec::new();
    let mut add = |name: String, bytes: &[u8], options: SimpleFileOptions| -> anyhow::Result<()> {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(bytes)?;
        entries.push(name);
        Ok(())
    };
    add("host.json".into(), host_text.as_bytes(), text)?;
    for (name, json) in &functions {
        add(format!("{name}/function.json"), json.as_bytes(), text)?;
    }
    add(exe_name, &binary, exec)?;
    if let Some(policy) = &opts.policy {
        let bytes = std::fs::read(policy).with_context(|| format!("reading the policy {}", policy.display()))?;
        add("policy.toml".into(), &bytes, text)?;
    }
    zip.finish()?;
    Ok(PackageReport { entries, functions: functions.into_iter().map(|(n, _)| n).collect() })
}

/// `function-defs/<name>/function.json`, each checked to be JSON with a non-empty `bindings`.
pub fn function_defs(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path().join("function.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let json: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
        if json.get("bindings").and_then(Value::as_array).is_none_or(|b| b.is_empty()) {
            bail!("{}: no bindings", path.display());
        }
        out.push((name, text));
    }
    if out.is_empty() {
        bail!("{} holds no functions", dir.display());
    }
    out.sort();
    Ok(out)
}
