//! End to end on the whole local stack: the Azure twin over HTTPS, a real redis-server as the
//! cache's data plane, `keyrelay serve` as a child process driven by the Functions host
//! simulator, and consumers under live traffic with embedded agents. keyrelay's promise is
//! checked where it matters: no consumer request fails, and the old key really stops working.

mod support;

use keyrelay::core::Phase;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_expiry_event_rotates_with_zero_failed_requests_and_the_old_key_stops_working() {
    let e = support::stack::start(|_| {}).await;
    let s = &e.stack;
    let old = s.fleet.consumers[0].key();
    assert!(s.host.deliver_event(&s.near_expiry_event()).await, "the handler refused the event");
    let done = e.settle(Duration::from_secs(60)).await;
    assert_eq!(done.phase, Phase::Completed, "{:#?}\n{}", done.timeline, e.serve_log());
    // A little more traffic on the new key after the old one is gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.failures(), vec![], "consumer requests failed");
    let secs = (done.finished_at.unwrap() - done.started_at).num_milliseconds() as f64 / 1000.0;
    eprintln!("rotation {} completed in {secs:.2}s; {} consumer requests, 0 failed", done.id, s.fleet.requests());
    for entry in &done.timeline {
        eprintln!("  {} {:<18} {}", entry.at.format("%H:%M:%S%.3f"), entry.phase, entry.what);
    }
    assert!(s.fleet.requests() > 100, "too little traffic to prove anything: {}", s.fleet.requests());
    let new = keyrelay::domain::SecretValue::new(s.vault.versions("orders-cache-key").last().unwrap().value.clone());
    assert!(!s.redis.can_login("default", &old).await, "the retired key still signs in");
    assert!(s.redis.can_login("default", &new).await, "the published key does not sign in");
    for c in &s.fleet.consumers {
        assert_eq!(c.key().expose(), new.expose(), "{} is not on the new key", c.id);
    }
}
