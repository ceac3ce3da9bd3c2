//! A real `redis-server` child process: the data plane behind the twin's Redis resources.
//!
//! Real ACL passwords mean a consumer that misses a rotation really fails to authenticate, so
//! "zero failed requests" is measured, not assumed. The server listens on 127.0.0.1 on a port
//! the OS picked, keeps everything in a private temporary directory, optionally speaks TLS with
//! the twin's [`TestCa`] certificate, and is killed (and its directory removed) on drop.
//!
//! The default user is off; an admin ACL user (`keyrelay-admin`, random password) manages the
//! others, so setting the passwords of any user — `default` included, which is how Azure
//! Cache for Redis access keys look to a client — never locks the twin out of its own server.

use super::TestCa;
use crate::adapters::redis::{strong_password, RedisEndpoint};
use crate::domain::SecretValue;
use anyhow::{anyhow, bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The admin ACL user every twin server has.
pub const ADMIN_USER: &str = "keyrelay-admin";

const INSTALL_HINT: &str = "redis-server is not installed or not on PATH; install it with \
     `sudo apt-get install -y redis-server` (Debian/Ubuntu; Redis 6 or later is required for ACL users)";

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct RedisServerOptions {
    /// Serve TLS only, with the twin CA's server certificate (it names 127.0.0.1 and localhost).
    pub tls: Option<TestCa>,
    /// A `requirepass`-style server: the default user is on with this one password. Without
    /// it the default user is off.
    pub requirepass: Option<SecretValue>,
}

/// A running redis-server.
pub struct RedisServer {
    child: Child,
    dir: PathBuf,
    endpoint: RedisEndpoint,
    admin_password: SecretValue,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer").field("endpoint", &self.endpoint.display()).finish_non_exhaustive()
    }
}

impl RedisServer {
    /// A plain-TCP server.
    pub async fn start() -> anyhow::Result<RedisServer> {
        Self::start_with(RedisServerOptions::default()).await
    }

    /// A TLS-only server with the twin CA's certificate.
    pub async fn start_tls(ca: &TestCa) -> anyhow::Result<RedisServer> {
        Self::start_with(RedisServerOptions { tls: Some(ca.clone()), ..Default::default() }).await
    }

    /// Starts a server; a port taken between picking and binding is retried with another.
    pub async fn start_with(options: RedisServerOptions) -> anyhow::Result<RedisServer> {
        let mut last = None;
        for _ in 0..5 {
            match Self::try_start(&options).await {
                Ok(server) => return Ok(server),
                Err(StartError::PortTaken(e)) => last = Some(e),
                Err(StartError::Other(e)) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("redis-server did not start")))
    }

    async fn try_start(options: &RedisServerOptions) -> Result<RedisServer, StartError> {
        let port = free_port().map_err(StartError::Other)?;
        let dir = std::env::temp_dir().join(format!("keyrelay-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| StartError::Other(anyhow!("creating {}: {e}", dir.display())))?;
        let admin_password = strong_password();
        let config = write_config(&dir, port, options, &admin_password).map_err(StartError::Other)?;
        let child = match Command::new("redis-server")
            .arg(&config)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(StartError::Other(anyhow!(INSTALL_HINT)));
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(StartError::Other(anyhow!("starting redis-server: {e}")));
            }
        };
        let endpoint = RedisEndpoint {
            host: "127.0.0.1".into(),
            port,
            tls: options.tls.is_some(),
            ca_pem: options.tls.as_ref().map(|ca| ca.ca_pem.clone()),
        };
        let mut server = RedisServer { child, dir, endpoint, admin_password };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Waits until the admin user can PING, or the process dies (its log says why).
    async fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                let err = anyhow!("redis-server exited with {status} at start: {tail}");
                return Err(if log.contains("Address already in use") { StartError::PortTaken(err) } else { StartError::Other(err) });
            }
            if self.ping().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StartError::Other(anyhow!("redis-server on {} did not answer within 15 s", self.endpoint.display())));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.admin_connection().await?;
        let _: String = ::redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Where the server listens (with the CA to trust when TLS is on).
    pub fn endpoint(&self) -> RedisEndpoint {
        self.endpoint.clone()
    }

    pub fn port(&self) -> u16 {
        self.endpoint.port
    }

    /// The admin user's credentials (`keyrelay-admin`), e.g. to store them in a Key Vault twin
    /// for the self-hosted provider.
    pub fn admin(&self) -> (String, SecretValue) {
        (ADMIN_USER.to_string(), self.admin_password.clone())
    }

    /// A connection as the admin user.
    pub async fn admin_connection(&self) -> anyhow::Result<::redis::aio::MultiplexedConnection> {
        self.endpoint
            .connect(ADMIN_USER, &self.admin_password)
            .await
            .with_context(|| format!("admin connection to {}", self.endpoint.display()))
    }

    /// Creates or updates the ACL user `name` so that exactly `passwords` open it, with full
    /// access (`on resetpass >p1 >p2 ~* &* +@all`). `resetpass` drops the old passwords without
    /// disconnecting clients that already signed in, which is how Redis behaves in production.
    pub async fn set_user_passwords(&self, name: &str, passwords: &[SecretValue]) -> anyhow::Result<()> {
        if name.is_empty() || name.contains(char::is_whitespace) {
            bail!("ACL user name {name:?} is empty or has spaces");
        }
        let mut cmd = ::redis::cmd("ACL");
        cmd.arg("SETUSER").arg(name).arg("on").arg("resetpass");
        for p in passwords {
            cmd.arg(format!(">{}", p.expose()));
        }
        cmd.arg("~*").arg("&*").arg("+@all");
        let mut conn = self.admin_connection().await?;
        let _: () = cmd.query_async(&mut conn).await.with_context(|| format!("ACL SETUSER {name}"))?;
        Ok(())
    }

    /// Drops every connection signed in as `name` (`CLIENT KILL USER`), e.g. to show that a
    /// consumer really reconnects with the credential it holds. Returns how many were closed.
    pub async fn disconnect_user(&self, name: &str) -> anyhow::Result<i64> {
        let mut conn = self.admin_connection().await?;
        let killed: i64 = ::redis::cmd("CLIENT").arg("KILL").arg("USER").arg(name).query_async(&mut conn).await?;
        Ok(killed)
    }

    /// The SHA-256 hashes (hex) of the passwords of `name`, as `ACL GETUSER` reports them.
    pub async fn password_hashes(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let mut conn = self.admin_connection().await?;
        let reply: ::redis::Value = ::redis::cmd("ACL").arg("GETUSER").arg(name).query_async(&mut conn).await?;
        Ok(crate::adapters::redis::acl::passwords_field(&reply).unwrap_or_default())
    }

    /// True if `user` can sign in with `password` right now.
    pub async fn can_login(&self, user: &str, password: &SecretValue) -> bool {
        match self.endpoint.connect(user, password).await {
            Ok(mut conn) => ::redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
            Err(_) => false,
        }
    }

    /// The server's log file, for test failure messages.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum StartError {
    PortTaken(anyhow::Error),
    Other(anyhow::Error),
}

impl From<StartError> for anyhow::Error {
    fn from(e: StartError) -> Self {
        match e {
            StartError::PortTaken(e) | StartError::Other(e) => e,
        }
    }
}

/// A port the OS considers free now (a small race with other processes is retried by the caller).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Writes `redis.conf` (and the TLS files) into `dir`, readable by the owner only.
fn write_config(dir: &Path, port: u16, options: &RedisServerOptions, admin: &SecretValue) -> anyhow::Result<PathBuf> {
    let mut conf = vec![
        "bind 127.0.0.1".to_string(),
        "daemonize no".into(),
        "save \"\"".into(),
        "appendonly no".into(),
        format!("dir {}", dir.display()),
        format!("logfile {}", dir.join("redis.log").display()),
        format!("user {ADMIN_USER} on >{} ~* &* +@all", admin.expose()),
    ];
    match &options.requirepass {
        Some(p) => conf.push(format!("requirepass {}", p.expose())),
        None => conf.push("user default off".into()),
    }
    match &options.tls {
        Some(ca) => {
            write_private(&dir.join("server.crt"), &ca.server_cert_pem)?;
            write_private(&dir.join("server.key"), &ca.server_key_pem)?;
            write_private(&dir.join("ca.crt"), &ca.ca_pem)?;
            conf.extend([
                "port 0".to_string(),
                format!("tls-port {port}"),
                format!("tls-cert-file {}", dir.join("server.crt").display()),
                format!("tls-key-file {}", dir.join("server.key").display()),
                format!("tls-ca-cert-file {}", dir.join("ca.crt").display()),
                "tls-auth-clients no".into(),
            ]);
        }
        None => conf.push(format!("port {port}")),
    }
    let path = dir.join("redis.conf");
    write_private(&path, &(conf.join("\n") + "\n"))?;
    Ok(path)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}
