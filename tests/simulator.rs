//! The simulator under `cargo test`: at least 10,000 seeded schedules, every invariant checked
//! after every step. `KEYRELAY_SIM_SCHEDULES` changes the number (mutation testing runs fewer),
//! `KEYRELAY_SIM_SEED_START` the first seed. A failure prints the command that replays it.

use keyrelay::sim::run_many;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn main() {
    // `cargo test -- --list` and filters: this file is one test, named `simulator`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("simulator: test");
        return;
    }
    if let Some(filter) = args.iter().find(|a| !a.starts_with('-')) {
        if !"simulator".contains(filter.as_str()) {
            return;
        }
    }
    let schedules = env_u64("KEYRELAY_SIM_SCHEDULES", 10_000);
    let start = env_u64("KEYRELAY_SIM_SEED_START", 0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let began = std::time::Instant::now();
    let summary = run_many(start, schedules, threads);
    let violations = summary.violations;
    println!("simulated schedules: {}, invariant violations: {violations}", summary.schedules);
    println!("  {:?} in {:.1?}", summary.stats, began.elapsed());
    if !summary.failures.is_empty() {
        for (seed, what) in &summary.failures {
            eprintln!("seed {seed}:");
            for v in what {
                eprintln!("  {v}");
            }
            eprintln!("  replay: cargo run --release --example simulate -- --replay {seed}");
        }
        std::process::exit(1);
    }
    assert!(summary.schedules >= schedules, "every schedule ran");
    assert!(summary.stats.completed > 0 && summary.stats.rolled_back + summary.stats.stalled > 0, "schedules reach every end");
}
