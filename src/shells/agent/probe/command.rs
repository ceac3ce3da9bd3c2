//! The command probe: a program of the operator's, given the key on stdin, says by its exit
//! status whether the key works.

use crate::domain::SecretValue;

pub async fn exit_code(command: &[String], key: &SecretValue) -> Result<String, String> {
    // The probe's own timeout (around this call) is the one that bounds it.
    const BEYOND_ANY_PROBE_TIMEOUT: u64 = 3_600;
    crate::shells::agent::reload::run_command(command, key, BEYOND_ANY_PROBE_TIMEOUT).await
}
