//! The file hook: the value lands in its file all at once or not at all, and only its owner
//! can read it.

use crate::domain::SecretValue;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `key` to a temporary file beside `path` (mode 0600, created exclusively), syncs it
/// and renames it over `path`. A reader sees the old content or the new, never half of it.
pub async fn write_atomically(path: &Path, key: &SecretValue) -> Result<(), String> {
    let path = path.to_path_buf();
    let key = key.clone();
    tokio::task::spawn_blocking(move || write_blocking(&path, &key))
        .await
        .map_err(|e| format!("file hook task failed: {e}"))?
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    path.with_file_name(format!(".{name}.keyrelay-{}", &suffix[..12]))
}

fn write_blocking(path: &Path, key: &SecretValue) -> Result<(), String> {
    let tmp = temp_path(path);
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", path.display());
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| fail("write", e))?;
        f.write_all(key.expose().as_bytes()).map_err(|e| fail("write", e))?;
        f.sync_all().map_err(|e| fail("sync", e))?;
        std::fs::rename(&tmp, path).map_err(|e| fail("replace", e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is synced; failing that is not fatal.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `SIGHUP`, `HUP` or `hup` → the signal number.
pub fn signal_number(name: &str) -> Result<i32, String> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    Ok(match bare {
        "HUP" => libc::SIGHUP,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "INT" => libc::SIGINT,
        "TERM" => libc::SIGTERM,
        "QUIT" => libc::SIGQUIT,
        "WINCH" => libc::SIGWINCH,
        _ => return Err(format!("signal {name:?} is not one of HUP, USR1, USR2, INT, TERM, QUIT, WINCH")),
    })
}

/// Signals the process whose pid `pid_file` holds; returns the pid.
pub fn send_signal(signal: &str, pid_file: &Path) -> Result<i32, String> {
    let number = signal_number(signal)?;
    let text = std::fs::read_to_string(pid_file).map_err(|e| format!("cannot read pid file {}: {e}", pid_file.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| format!("pid file {} does not hold a process id", pid_file.display()))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, number) };
    if rc != 0 {
        return Err(format!("cannot send {signal} to pid {pid}: {}", std::io::Error::last_os_error()));
    }
    Ok(pid)
}
