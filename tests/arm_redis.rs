//! The Redis-backed resource: an Azure Cache for Redis in the ARM twin whose two access keys
//! are mirrored into a real redis-server's `default` user. The production `ArmKeyProvider`
//! regenerates the slot a connected client signed in with; that client's next AUTH fails,
//! while the other slot's key (and the new key) still sign in.

#[path = "support/arm.rs"]
mod arm_support;

use arm_support::{sample_id, ArmHarness};
use keyrelay::adapters::azure::providers::ArmKeyProvider;
use keyrelay::domain::{SecretValue, Slot};
use keyrelay::ports::{KeyProvider, RegenerateOutcome};
use keyrelay::twin::arm::RedisKeyMirror;
use keyrelay::twin::RedisServer;
use std::sync::Arc;

/// The user Azure Cache for Redis access keys open.
const USER: &str = "default";

/// An ARM twin whose `redis` resource is mirrored into a fresh redis-server, and the
/// production provider for that resource.
async fn mirrored_cache() -> (ArmHarness, Arc<RedisServer>, ArmKeyProvider) {
    let h = ArmHarness::start().await;
    let redis = Arc::new(RedisServer::start().await.unwrap_or_else(|e| panic!("{e:#}")));
    // Before the resource exists, so the mirror hears its two initial keys.
    h.twin.add_listener(Arc::new(RedisKeyMirror::new(sample_id("redis"), USER, redis.clone())));
    let provider = h.provider("redis").await;
    (h, redis, provider)
}

/// `AUTH default <key>` on an open connection.
async fn auth(conn: &mut redis::aio::MultiplexedConnection, key: &SecretValue) -> redis::RedisResult<()> {
    redis::cmd("AUTH").arg(USER).arg(key.expose()).query_async(conn).await
}

/// Regenerates `used` while a client is signed in with it, and checks who can still sign in.
async fn regenerate_the_slot_a_client_uses(used: Slot) {
    let (_h, redis, provider) = mirrored_cache().await;
    let other = used.other();
    let old = provider.read(used).await.unwrap();
    let kept = provider.read(other).await.unwrap();
    assert_ne!(old.expose(), kept.expose());

    let mut client = redis.endpoint().connect(USER, &old).await.unwrap_or_else(|e| panic!("{used:?} key does not sign in before the regenerate: {e}"));
    let pong: String = redis::cmd("PING").query_async(&mut client).await.unwrap();
    assert_eq!(pong, "PONG");
    auth(&mut client, &old).await.unwrap_or_else(|e| panic!("re-AUTH with the {used:?} key failed before the regenerate: {e}"));

    let outcome = provider.regenerate(used, false).await.unwrap();
    assert!(matches!(outcome, RegenerateOutcome::Done), "{outcome:?}");
    let new = provider.read(used).await.unwrap();
    assert_ne!(new.expose(), old.expose(), "the {used:?} key did not change");

    // The same client, next AUTH with the key it holds: refused.
    let err = auth(&mut client, &old).await.expect_err("AUTH with the regenerated key still succeeds");
    assert!(err.to_string().contains("WRONGPASS") || err.to_string().to_lowercase().contains("invalid"), "unexpected AUTH error: {err}");
    assert!(!err.to_string().contains(old.expose()), "the AUTH error shows the key");
    assert!(!redis.can_login(USER, &old).await, "a new connection signs in with the regenerated {used:?} key");

    // The other slot is untouched and still works, on the same connection and on a new one.
    assert_eq!(provider.read(other).await.unwrap().expose(), kept.expose(), "the {other:?} key changed");
    auth(&mut client, &kept).await.unwrap_or_else(|e| panic!("AUTH with the {other:?} key failed: {e}"));
    assert!(redis.can_login(USER, &kept).await, "the {other:?} key no longer signs in");
    // And the regenerated slot's new key signs in.
    assert!(redis.can_login(USER, &new).await, "the new {used:?} key does not sign in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerating_the_primary_a_client_uses_fails_its_next_auth_and_the_secondary_still_works() {
    regenerate_the_slot_a_client_uses(Slot::Primary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerating_the_secondary_a_client_uses_fails_its_next_auth_and_the_primary_still_works() {
    regenerate_the_slot_a_client_uses(Slot::Secondary).await;
}
