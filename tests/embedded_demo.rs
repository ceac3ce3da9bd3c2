//! The embedded demo: a rotation under live consumer traffic with zero failed requests, and a
//! refusing consumer that stalls the rotation, which the operator then rolls back.

use keyrelay::core::Phase;
use keyrelay::shells::demo::{run_embedded, succeeded, DemoOptions};

fn options(refuse_reload: bool) -> DemoOptions {
    DemoOptions {
        consumers: 5,
        waves: 2,
        refuse_reload,
        evidence_dir: tempfile::tempdir().unwrap().keep(),
    }
}

#[tokio::test]
async fn rotation_completes_with_zero_failed_requests() {
    let mut out = Vec::new();
    let summary = run_embedded(&options(false), &mut out).await.unwrap();
    assert_eq!(summary.rotation.phase, Phase::Completed, "{}", String::from_utf8_lossy(&out));
    assert_eq!(summary.failed_requests, 0);
    assert!(summary.requests > 0);
    assert!(succeeded(&summary, false));
    let md = std::fs::read_to_string(&summary.evidence_markdown).unwrap();
    assert!(md.contains("completed"));
    assert!(!md.contains("demo-cache-key-"), "evidence must not contain key values");
}

#[tokio::test]
async fn a_refusing_consumer_stalls_and_is_rolled_back_without_failures() {
    let mut out = Vec::new();
    let summary = run_embedded(&options(true), &mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(summary.rotation.phase, Phase::RolledBack, "{text}");
    assert!(text.contains("stalled: consumer app-5 did not acknowledge"), "{text}");
    assert_eq!(summary.failed_requests, 0, "{text}");
    // The old key was never regenerated: only the standby was.
    assert_eq!(summary.rotation.regenerated.len(), 1);
}
