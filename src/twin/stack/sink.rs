//! The redis-server child is the data plane of the ARM twin's Azure Cache for Redis: the
//! mirror pushes the cache's two access keys into its `default` user's ACL passwords.

use crate::domain::SecretValue;
use crate::twin::arm::PasswordSink;
use crate::twin::RedisServer;
use std::sync::Arc;

#[async_trait::async_trait]
impl PasswordSink for Arc<RedisServer> {
    async fn set_user_passwords(&self, user: &str, passwords: &[SecretValue]) -> anyhow::Result<()> {
        RedisServer::set_user_passwords(self, user, passwords).await
    }
}
