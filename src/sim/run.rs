//! Running many schedules on several threads, and summing what they found.

use super::schedule::{run, Report};
use super::world::Stats;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The sum of a run of schedules.
#[derive(Debug, Default)]
pub struct Summary {
    pub schedules: u64,
    pub stats: Stats,
    /// Invariant violations over all schedules.
    pub violations: u64,
    /// Failing schedules (seed and what broke), in seed order, at most a few.
    pub failures: Vec<(u64, Vec<String>)>,
}

/// How many failing seeds a run keeps (each is replayable on its own).
const KEPT_FAILURES: usize = 10;

/// Runs seeds `start..start + count` on `threads` threads. Each schedule depends on its seed
/// only, so the result is the same for any number of threads.
pub fn run_many(start: u64, count: u64, threads: usize) -> Summary {
    let next = AtomicU64::new(start);
    let end = start + count;
    let total = Mutex::new(Summary::default());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut local = Summary::default();
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    let Report { violations, stats, .. } = run(seed, false);
                    local.schedules += 1;
                    local.stats.add(&stats);
                    local.violations += violations.len() as u64;
                    if !violations.is_empty() && local.failures.len() < KEPT_FAILURES {
                        local.failures.push((seed, violations));
                    }
                }
                let mut t = total.lock().expect("no panics while holding the summary");
                t.schedules += local.schedules;
                t.stats.add(&local.stats);
                t.violations += local.violations;
                t.failures.extend(local.failures);
            });
        }
    });
    let mut summary = total.into_inner().expect("threads are done");
    summary.failures.sort_by_key(|(seed, _)| *seed);
    summary.failures.truncate(KEPT_FAILURES);
    summary
}
