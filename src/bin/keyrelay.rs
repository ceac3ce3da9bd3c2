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
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Agent { config } => keyrelay::shells::agent::azure::run_command(&config).await,
        Command::Demo { consumers, waves, refuse_reload, evidence_dir } => {
            let opts = keyrelay::shells::demo::DemoOptions { consumers, waves, refuse_reload, evidence_dir };
            let mut out = std::io::stdout();
            let summary = keyrelay::shells::demo::run_embedded(&opts, &mut out).await?;
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
    }
}

fn opt(slot: Option<keyrelay::domain::Slot>) -> String {
    slot.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
}
