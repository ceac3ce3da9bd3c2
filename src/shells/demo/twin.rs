//! `keyrelay demo` on the local Azure twin: the whole stack of [`crate::twin::stack`] — twin
//! over HTTPS, real redis-server behind the cache, `keyrelay serve` driven by the host
//! simulator, consumers under live traffic — and one rotation started by a Key Vault
//! `SecretNearExpiry` event, shown as it happens.

use super::embedded::{DemoOptions, DemoSummary};
use super::timeline::print_new_entries;
use crate::core::Rotation;
use crate::twin::stack::{Behaviour, Stack, StackOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a demo consumer takes to swap its connections: long enough that the waves can be
/// watched, short enough that the whole run takes about a second.
const RELOAD_TIME: Duration = Duration::from_millis(250);

/// Faults to inject into the twin's Resource Manager.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The next N ARM requests answer 429 Too Many Requests (Retry-After 1s).
    pub arm_throttle: u32,
    /// Regenerate runs as a long-running operation of this many seconds.
    pub lro_secs: u64,
}

/// The twin demo's options beyond the common ones.
#[derive(Debug, Clone)]
pub struct TwinDemo {
    pub common: DemoOptions,
    pub faults: Faults,
    /// The `keyrelay` executable to run as `keyrelay serve` (this one).
    pub keyrelay_exe: PathBuf,
    /// Where the stack keeps its logs, state and policy (kept for inspection).
    pub work_dir: PathBuf,
}

/// A line on a terminal is redrawn in place; piped output gets plain lines only.
struct Progress {
    live: bool,
    drawn: bool,
}

impl Progress {
    fn line(&mut self, out: &mut impl Write, text: &str) {
        self.clear(out);
        let _ = writeln!(out, "{text}");
    }

    fn status(&mut self, out: &mut impl Write, text: &str) {
        if self.live {
            let _ = write!(out, "\r\x1b[2K{text}");
            let _ = out.flush();
            self.drawn = true;
        }
    }

    fn clear(&mut self, out: &mut impl Write) {
        if self.drawn {
            let _ = write!(out, "\r\x1b[2K");
            self.drawn = false;
        }
    }
}

pub async fn run_twin(demo: &TwinDemo, out: &mut (impl Write + Send)) -> anyhow::Result<DemoSummary> {
    let opts = &demo.common;
    anyhow::ensure!(opts.consumers >= 1, "--consumers must be at least 1");
    anyhow::ensure!(opts.waves >= 1 && opts.waves <= opts.consumers, "--waves must be between 1 and the number of consumers");
    let mut progress = Progress { live: std::io::stdout().is_terminal(), drawn: false };
    let mut stack_opts = StackOptions::new(demo.keyrelay_exe.clone(), demo.work_dir.clone());
    stack_opts.consumers = opts.consumers;
    stack_opts.waves = opts.waves;
    stack_opts.reload_delay = RELOAD_TIME;
    if opts.refuse_reload {
        stack_opts.behaviours.insert(opts.consumers - 1, Behaviour::Refuses);
    }
    let t0 = Instant::now();
    progress.line(out, &format!("starting the local Azure twin, redis-server and keyrelay serve (work dir {})", demo.work_dir.display()));
    let stack = Stack::start(stack_opts).await?;
    if demo.faults.arm_throttle > 0 || demo.faults.lro_secs > 0 {
        let f = demo.faults.clone();
        stack.arm.faults(|a| {
            a.throttle_next = f.arm_throttle;
            a.throttle_retry_after = 1;
            a.lro_duration = Duration::from_secs(f.lro_secs);
            a.lro_retry_after = 1;
            a.lro_everywhere = f.lro_secs > 0;
        });
        progress.line(out, &format!("faults: {} throttled ARM requests, regenerate takes {}s", f.arm_throttle, f.lro_secs));
    }
    progress.line(
        out,
        &format!(
            "ready in {:.1}s: {} consumers in {} waves issuing Redis commands with the key they hold",
            t0.elapsed().as_secs_f64(),
            opts.consumers,
            opts.waves
        ),
    );
    while stack.fleet.requests() < opts.consumers as u64 * 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    progress.line(out, "Key Vault: Microsoft.KeyVault.SecretNearExpiry for orders-cache-key -> Event Grid -> keyrelay");
    stack.near_expiry().await?;

    let rotation = follow(&stack, opts.refuse_reload, &mut progress, out).await?;
    // Traffic keeps running a moment on the final key, then stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (requests, failed) = (stack.fleet.requests(), stack.fleet.failures());
    progress.clear(out);
    for c in &stack.fleet.consumers {
        if let Some(first) = c.first_failure.lock().unwrap().as_ref() {
            let _ = writeln!(out, "  first failure: {first}");
        }
    }
    let (evidence_json, evidence_markdown) = super::write_evidence(&rotation, &opts.evidence_dir)?;
    Ok(DemoSummary { rotation, requests, failed_requests: failed, evidence_json, evidence_markdown })
}

/// Prints the timeline until the rotation ends; a stall (with `--refuse-reload`) is rolled back
/// through the operator API as an operator would.
async fn follow(stack: &Stack, roll_back_stall: bool, progress: &mut Progress, out: &mut impl Write) -> anyhow::Result<Rotation> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut printed = 0;
    let mut rolled_back = false;
    loop {
        if let Some(r) = stack.rotations().await?.into_iter().next() {
            if r.timeline.len() > printed {
                progress.clear(out);
                printed = print_new_entries(&r, printed, r.started_at, out);
            }
            if r.is_finished() {
                return Ok(r);
            }
            if r.is_stalled() {
                anyhow::ensure!(roll_back_stall && !rolled_back, "the rotation stalled: {}", r.stall.as_ref().map(|s| s.reason.clone()).unwrap_or_default());
                rolled_back = true;
                progress.line(out, "  the operator rolls the stalled rotation back (POST /api/keyrelay/rotations/{id}/rollback)");
                let body = serde_json::json!({ "operator": "demo-operator", "reason": "a consumer refused the new key" });
                let (status, answer) = stack.host.api("POST", &format!("rotations/{}/rollback", r.id), Some(&body)).await?;
                anyhow::ensure!(status == 200, "rollback answered {status}: {answer}");
            }
            progress.status(out, &format!("  {:<20} requests {:>7}  failed {}", r.phase.name(), stack.fleet.requests(), stack.fleet.failures()));
        }
        anyhow::ensure!(Instant::now() < deadline, "the rotation did not finish within 120s; keyrelay serve's log: {}", stack.serve.log_path().display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
