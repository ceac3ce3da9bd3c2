//! Running a program with the key on its standard input. Arguments and the environment are
//! readable by other local users (`/proc/<pid>/cmdline`); a pipe is not.

use crate::domain::SecretValue;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Runs `command` (program and arguments), writes `key` to its stdin and closes it, and waits
/// up to `timeout_secs`. Success is exit status 0; a failure names the status and the end of
/// stderr (the caller redacts the key from it).
pub async fn run_with_stdin(command: &[String], key: &SecretValue, timeout_secs: u64) -> Result<String, String> {
    let (program, args) = command.split_first().ok_or("command is empty")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that exits without reading stdin is not an error: its status decides.
        let _ = stdin.write_all(key.expose().as_bytes()).await;
        let _ = stdin.shutdown().await;
    }
    let output = tokio::time::timeout(Duration::from_secs(timeout_secs.max(1)), child.wait_with_output())
        .await
        .map_err(|_| format!("{program} did not finish within {timeout_secs}s"))?
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        return Ok(format!("{program} exited 0"));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr.trim().chars().rev().take(200).collect::<Vec<_>>().into_iter().rev().collect();
    let status = output.status.code().map(|c| format!("exit status {c}")).unwrap_or_else(|| "killed by a signal".into());
    Err(if tail.is_empty() { format!("{program} failed with {status}") } else { format!("{program} failed with {status}: {tail}") })
}
