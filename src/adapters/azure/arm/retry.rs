//! When to try a Resource Manager call again, and how long to wait first.
//!
//! ARM asks clients to honour `Retry-After` on 429 and on long-running operation polls; when
//! it gives none, we back off exponentially with jitter so that several keyrelay instances
//! throttled together do not come back together. Retries are bounded, and a wait longer than
//! `max_delay` is not slept through: the call returns `Throttled` so the rotation core can
//! schedule the retry (a Functions invocation should not sleep for minutes).

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first one.
    pub max_attempts: u32,
    /// First backoff when the server gave no `Retry-After`.
    pub base_delay: Duration,
    /// Longest single wait the client sleeps through itself.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 4, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// Status codes worth another attempt: throttling and server errors.
    pub fn retryable(status: u16) -> bool {
        status == 429 || (500..=599).contains(&status)
    }

    /// Exponential backoff with full jitter for attempt `n` (1 = after the first failure),
    /// between half and all of `base * 2^(n-1)`, capped at `max_delay`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max_delay);
        let half = ceiling / 2;
        half + ceiling.saturating_sub(half).mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
    }

    /// The wait before the next attempt: the server's `Retry-After` when it sent one.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        retry_after.unwrap_or_else(|| self.backoff(attempt))
    }
}

/// Parses `Retry-After`: delta-seconds, or an HTTP date (RFC 7231). Also accepts the
/// `retry-after-ms` / `x-ms-retry-after-ms` form some Azure services send.
pub fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|v| v.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_in_seconds_milliseconds_and_http_date() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
        let mut d = HeaderMap::new();
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        d.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let wait = parse_retry_after(&d).unwrap();
        assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(90), "{wait:?}");
        d.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(parse_retry_after(&d), Some(Duration::ZERO));
    }

    #[test]
    fn backoff_grows_with_jitter_and_stays_under_the_cap() {
        let p = RetryPolicy { max_attempts: 10, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        for attempt in 1..=10 {
            let ceiling = (Duration::from_millis(100) * (1 << (attempt - 1))).min(Duration::from_secs(1));
            let d = p.backoff(attempt);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?} vs {ceiling:?}");
        }
        assert_eq!(p.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert!(RetryPolicy::retryable(429) && RetryPolicy::retryable(503) && !RetryPolicy::retryable(409));
    }
}
