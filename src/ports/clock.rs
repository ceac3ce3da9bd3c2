use chrono::{DateTime, Utc};

/// Where "now" comes from. The core takes `now` as an argument; shells read it from a clock
/// so the simulator and tests can run time at their own pace.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
