//! `keyrelay serve` as a child process, started the way the Functions host starts it (port in
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, ready when `GET /` answers) with the app settings of a
//! deployment plus the twin's CA, name resolution and managed identity endpoint. It can be
//! killed with SIGKILL and started again on the same port and state, as a host restart would.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServeProcess {
    exe: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    pub port: u16,
    child: Option<Child>,
    /// How many times it was started.
    pub starts: u32,
}

impl ServeProcess {
    pub fn new(exe: PathBuf, env: Vec<(String, String)>, log: PathBuf) -> anyhow::Result<ServeProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Ok(ServeProcess { exe, env, log, port, child: None, starts: 0 })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process (appending to its log) and waits until it answers `GET /`.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.exe)
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", self.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {} serve: {e}", self.exe.display()))?;
        self.child = Some(child);
        self.starts += 1;
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(self.base_url()).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                anyhow::bail!("keyrelay serve exited with {status} before it was ready; its log: {}", self.log.display());
            }
            anyhow::ensure!(Instant::now() < deadline, "keyrelay serve did not answer GET / within 20s; its log: {}", self.log.display());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, whatever was in flight is cut off.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
