//! Starting the whole twin stack (`keyrelay::twin::stack`) for an end-to-end test: the built
//! `keyrelay` binary as `keyrelay serve`, a temporary work directory kept for the failure
//! message, and waiting until every consumer's traffic flows.
#![allow(dead_code)]

use keyrelay::core::Rotation;
use keyrelay::twin::stack::{Stack, StackOptions};
use std::sync::atomic::Ordering;
use std::time::Duration;

pub struct E2e {
    pub stack: Stack,
    pub dir: tempfile::TempDir,
}

pub fn options(dir: &tempfile::TempDir) -> StackOptions {
    StackOptions::new(env!("CARGO_BIN_EXE_keyrelay").into(), dir.path().to_path_buf())
}

/// Starts the stack with `tweak`ed options and waits until every consumer issued requests.
pub async fn start(tweak: impl FnOnce(&mut StackOptions)) -> E2e {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir);
    tweak(&mut opts);
    let stack = Stack::start(opts).await.unwrap_or_else(|e| panic!("the stack did not start: {e:#}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stack.fleet.consumers.iter().any(|c| c.requests.load(Ordering::Relaxed) < 5) {
        assert!(std::time::Instant::now() < deadline, "consumer traffic did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    E2e { stack, dir }
}

impl E2e {
    /// Waits for the rotation to finish or stall.
    pub async fn settle(&self, timeout: Duration) -> Rotation {
        self.stack
            .watch(timeout, |r| r.is_finished() || r.is_stalled(), |_| {})
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", self.serve_log()))
    }

    pub fn serve_log(&self) -> String {
        std::fs::read_to_string(self.stack.serve.log_path()).unwrap_or_default()
    }

    /// Per-consumer failures, with the first failure's description.
    pub fn failures(&self) -> Vec<(String, u64, Option<String>)> {
        self.stack
            .fleet
            .consumers
            .iter()
            .map(|c| (c.id.to_string(), c.failures.load(Ordering::Relaxed), c.first_failure.lock().unwrap().clone()))
            .filter(|(_, n, _)| *n > 0)
            .collect()
    }
}

/// A stack where consumer `index` (0-based) behaves as `behaviour`, with a short ack deadline.
pub async fn start_with(index: usize, behaviour: keyrelay::twin::stack::Behaviour) -> E2e {
    start(|o| {
        o.behaviours.insert(index, behaviour);
        o.ack_deadline = "2s".into();
    })
    .await
}

impl E2e {
    /// Starts a rotation with a near-expiry event and waits for it to stall.
    pub async fn rotate_until_stalled(&self) -> Rotation {
        self.stack.near_expiry().await.unwrap();
        let stalled = self.settle(Duration::from_secs(60)).await;
        assert!(stalled.is_stalled(), "{:?}\n{:#?}", stalled.phase, stalled.timeline);
        stalled
    }
}

/// The regenerate calls the ARM twin answered successfully, as (key type) strings.
pub fn regenerated(s: &Stack) -> Vec<String> {
    s.arm
        .seen()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.to_ascii_lowercase().ends_with("/regeneratekey") && r.status < 300)
        .map(|r| r.body.map(|b| b["keyType"].to_string()).unwrap_or_default())
        .collect()
}
