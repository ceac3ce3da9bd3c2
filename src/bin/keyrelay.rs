//! The `keyrelay` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "keyrelay", version, about = "Zero-downtime rotation of two-key credentials: the old key is retired only after every consumer acked the new one.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the consumer agent: receive reload steps, reload and probe, ack (see
    /// examples/agent.toml and docs/consumer-protocol.md).
    Agent {
        /// The agent's TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run one full rotation with no Azure account and show its timeline.
    ///
    /// Consumers keep issuing requests with the key they hold during the rotation; the summary
    /// reports how many failed (the promise is zero). Exit status is non-zero if any request
    /// failed or the rotation did not end as expected.
    Demo {
        /// Number of consumers.
        #[arg(long, default_value_t = 5)]
        consumers: usize,
        /// Number of waves the consumers are split into.
        #[arg(long, default_value_t = 2)]
        waves: usize,
        /// Make the last consumer refuse the new key: the rotation stalls and is rolled back.
        #[arg(long)]
        refuse_reload: bool,
        /// Where the evidence files are written.
        #[arg(long, default_value = "evidence")]
        evidence_dir: PathBuf,
        /// Run the core on in-memory adapters instead of the local Azure twin (no redis-server needed).
        #[arg(long)]
        in_memory: bool,
        /// Fault injection: the next N Resource Manager requests answer 429 (Retry-After 1s).
        #[arg(long, default_value_t = 0)]
        arm_throttle: u32,
        /// Fault injection: regenerate runs as a long-running operation of this many seconds.
        #[arg(long, default_value_t = 0)]
        lro_secs: u64,
        /// Where the twin stack keeps serve's log, the policy and the state (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// Print (or write) one rotation's evidence from the state store KEYRELAY_STATE_STORE names.
    Evidence {
        /// The rotation id.
        rotation: String,
        #[arg(long, value_enum, default_value = "markdown")]
        format: keyrelay::shells::cli::evidence::EvidenceFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the Azure Functions custom handler (the host starts this; see docs/functions-app.md).
    ///
    /// Listens on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT and serves one route per function
    /// (`POST /schedule`, `/keyvault-events`, `/rotation-commands`, `/reload-acks`, `/sweeper`,
    /// `/api`) plus `GET /` for the host's readiness probe. In Azure the host runs it as
    /// host.json's `defaultExecutablePath` with the arguments `serve`. To run it by hand, set
    /// the app settings listed in docs/settings.md (at least KEYRELAY_SERVICEBUS_NAMESPACE,
    /// FUNCTIONS_CUSTOMHANDLER_PORT and, unless ./policy.toml exists, KEYRELAY_POLICY) and
    /// start `keyrelay serve`; then POST the envelopes
    /// the host would send, e.g. the files in fixtures/functions/requests.
    Serve,
    /// Build the deployable zip: host.json, <function>/function.json, the executable, policy.
    Package {
        /// Directory holding host.json and function-defs/.
        #[arg(long, default_value = ".")]
        app_dir: PathBuf,
        /// The Linux executable to ship (default: this one; use a release build).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Policy file to ship as policy.toml beside host.json.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Where to write the zip.
        #[arg(long, default_value = "keyrelay-functionapp.zip")]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Agent { config } => keyrelay::shells::agent::azure::run_command(&config).await,
        Command::Demo { consumers, waves, refuse_reload, evidence_dir, in_memory, arm_throttle, lro_secs, work_dir } => {
            let opts = keyrelay::shells::demo::DemoOptions { consumers, waves, refuse_reload, evidence_dir };
            let mut out = std::io::stdout();
            let summary = if in_memory {
                keyrelay::shells::demo::run_embedded(&opts, &mut out).await?
            } else {
                let work_dir = work_dir.unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("keyrelay-demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")))
                });
                let demo = keyrelay::shells::demo::TwinDemo {
                    common: opts,
                    faults: keyrelay::shells::demo::Faults { arm_throttle, lro_secs },
                    keyrelay_exe: std::env::current_exe()?,
                    work_dir,
                };
                keyrelay::shells::demo::run_twin(&demo, &mut out).await?
            };
            let r = &summary.rotation;
            let duration = r.finished_at.map(|f| (f - r.started_at).num_milliseconds() as f64 / 1000.0).unwrap_or(0.0);
            println!();
            println!("rotation:                   {}", r.id);
            println!("outcome:                    {}", r.phase.name());
            println!("duration:                   {duration:.2}s");
            println!("slots:                      {} -> {}", opt(r.old_slot), opt(if r.phase == keyrelay::core::Phase::RolledBack { r.old_slot } else { r.new_slot() }));
            println!("consumer requests issued:   {}", summary.requests);
            println!("failed consumer requests:   {}", summary.failed_requests);
            println!("evidence:                   {} and {}", summary.evidence_json.display(), summary.evidence_markdown.display());
            if !keyrelay::shells::demo::succeeded(&summary, refuse_reload) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Evidence { rotation, format, out } => {
            let settings = keyrelay::shells::settings::Settings::from_env()?;
            let text = keyrelay::shells::cli::evidence::evidence(&settings, &rotation, format).await?;
            match out {
                Some(path) => std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(())
        }
        Command::Serve => {
            let settings = keyrelay::shells::settings::Settings::from_env()?;
            keyrelay::shells::cli::serve::serve(settings).await
        }
        Command::Package { app_dir, binary, policy, out } => {
            let binary = match binary {
                Some(b) => b,
                None => std::env::current_exe()?,
            };
            let opts = keyrelay::shells::cli::package::PackageOptions { app_dir, binary, policy, out: out.clone() };
            let report = keyrelay::shells::cli::package::package(&opts)?;
            println!("wrote {} ({} functions: {})", out.display(), report.functions.len(), report.functions.join(", "));
            Ok(())
        }
    }
}

fn opt(slot: Option<keyrelay::domain::Slot>) -> String {
    slot.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
}
