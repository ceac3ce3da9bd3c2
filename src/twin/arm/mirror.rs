//! Mirrors an Azure Cache for Redis resource's two access keys into a data plane: whatever
//! holds the ACL passwords (the redis helper's `twin::redis_server::RedisServer`, through a
//! two-line [`PasswordSink`] impl). After each regenerate the user's passwords are exactly the
//! resource's current two keys, so a client still using a regenerated key really fails to
//! AUTH while the other slot keeps working — the way Azure Cache for Redis behaves.

use super::state::{KeyChange, KeyListener};
use crate::domain::SecretValue;
use std::sync::Mutex;

/// Something whose ACL user can be given an exact set of passwords.
#[async_trait::async_trait]
pub trait PasswordSink: Send + Sync {
    async fn set_user_passwords(&self, user: &str, passwords: &[SecretValue]) -> anyhow::Result<()>;
}

/// A [`KeyListener`] for one resource: keeps its two keys and pushes both on every change.
pub struct RedisKeyMirror<S: PasswordSink> {
    resource_id: String,
    user: String,
    sink: S,
    keys: Mutex<[Option<SecretValue>; 2]>,
}

impl<S: PasswordSink> RedisKeyMirror<S> {
    /// `user` is the ACL user the access keys open (`default` for Azure Cache for Redis).
    pub fn new(resource_id: &str, user: &str, sink: S) -> Self {
        RedisKeyMirror { resource_id: resource_id.to_string(), user: user.to_string(), sink, keys: Mutex::new([None, None]) }
    }
}

#[async_trait::async_trait]
impl<S: PasswordSink> KeyListener for RedisKeyMirror<S> {
    async fn key_changed(&self, change: &KeyChange) {
        if !change.resource_id.eq_ignore_ascii_case(&self.resource_id) || change.index > 1 {
            return;
        }
        let passwords: Vec<SecretValue> = {
            let mut keys = self.keys.lock().unwrap();
            keys[change.index] = Some(change.value.clone());
            keys.iter().flatten().cloned().collect()
        };
        if let Err(e) = self.sink.set_user_passwords(&self.user, &passwords).await {
            // The listener cannot fail the ARM call; a mirror that fell behind shows up as
            // failed AUTHs in the test that uses it, with this line in its log.
            tracing::error!(resource = %self.resource_id, "mirroring the access keys failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorded(Mutex<Vec<(String, Vec<String>)>>);

    #[async_trait::async_trait]
    impl PasswordSink for &'static Recorded {
        async fn set_user_passwords(&self, user: &str, passwords: &[SecretValue]) -> anyhow::Result<()> {
            self.0.lock().unwrap().push((user.to_string(), passwords.iter().map(|p| p.expose().to_string()).collect()));
            Ok(())
        }
    }

    fn change(id: &str, index: usize, value: &str) -> KeyChange {
        KeyChange { resource_id: id.into(), key_name: "primaryKey".into(), index, value: SecretValue::new(value) }
    }

    #[tokio::test]
    async fn the_user_always_has_exactly_the_current_two_keys() {
        let sink: &'static Recorded = Box::leak(Box::default());
        let mirror = RedisKeyMirror::new("/r/cache1", "default", sink);
        mirror.key_changed(&change("/r/cache1", 0, "p1")).await;
        mirror.key_changed(&change("/r/cache1", 1, "s1")).await;
        mirror.key_changed(&change("/r/other", 1, "x")).await;
        mirror.key_changed(&change("/R/CACHE1", 1, "s2")).await;
        let seen = sink.0.lock().unwrap().clone();
        let last: Vec<&str> = seen.last().unwrap().1.iter().map(String::as_str).collect();
        assert_eq!(seen.len(), 3, "other resources are ignored");
        assert_eq!(last, ["p1", "s2"]);
        assert!(seen.iter().all(|(user, _)| user == "default"));
    }
}
