//! Runs the deterministic simulator over many schedules, or replays one.
//!
//! ```text
//! cargo run --release --example simulate -- --schedules 1000000 --seed-start 0 --threads 2
//! cargo run --release --example simulate -- --replay 12345
//! ```
//! See docs/simulator.md.

use clap::Parser;
use keyrelay::sim::{run_many, run_schedule};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "keyrelay's deterministic rotation simulator")]
struct Args {
    /// Number of schedules to run.
    #[arg(long, default_value_t = 10_000)]
    schedules: u64,
    /// First seed; schedules use seeds seed-start .. seed-start + schedules.
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Replay one seed and print its trace.
    #[arg(long)]
    replay: Option<u64>,
}

fn main() {
    let args = Args::parse();
    if let Some(seed) = args.replay {
        let report = run_schedule(seed, true);
        for line in &report.trace {
            println!("{line}");
        }
        println!("seed {seed}: {:?}", report.stats);
        println!("invariant violations: {}", report.violations.len());
        for v in &report.violations {
            println!("  {v}");
        }
        std::process::exit(if report.violations.is_empty() { 0 } else { 1 });
    }
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let began = Instant::now();
    let summary = run_many(args.seed_start, args.schedules, threads);
    let secs = began.elapsed().as_secs_f64();
    let violations = summary.violations;
    println!("simulated schedules: {}, invariant violations: {violations}", summary.schedules);
    println!("{:.1} s, {:.0} schedules/s on {threads} threads", secs, summary.schedules as f64 / secs);
    println!("{:?}", summary.stats);
    for (seed, what) in &summary.failures {
        println!("seed {seed}: {}", what.join("; "));
        println!("  replay: cargo run --release --example simulate -- --replay {seed}");
    }
    std::process::exit(if summary.failures.is_empty() { 0 } else { 1 });
}
