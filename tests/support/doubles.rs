//! The driver's clock and entropy for tests: time moves only when a test moves it, and every
//! nonce or id is a counter, so a failing run names the same rotation ids when replayed.
//!
//! Standalone, like `plan.rs`: included by `#[path]` where `support/mod.rs` is not needed.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use keyrelay::driver::Entropy;
use keyrelay::ports::Clock;
use std::sync::Mutex;

/// A clock that stands still until `set` or `advance`.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn at(now: &str) -> TestClock {
        TestClock(Mutex::new(now.parse().expect("an RFC 3339 time")))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().unwrap() = now;
    }

    pub fn advance(&self, secs: i64) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(secs);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Entropy that counts: 00..01, 00..02, ...
#[derive(Default)]
pub struct Counter(Mutex<u64>);

impl Entropy for Counter {
    fn hex(&self, bytes: usize) -> String {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        format!("{:0width$x}", *n, width = bytes * 2)
    }
}
