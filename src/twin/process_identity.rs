//! The environment a child process (the handler, a consumer agent) needs to reach the twin as
//! a managed identity: the App Service token endpoint variables, the extra trusted root and the
//! name-resolution overrides — the same settings a real deployment would use.

use super::{IdentityTwin, TestCa};
use std::net::SocketAddr;
use std::path::Path;

/// Writes the CA to `ca_file` and returns the variables for `Command::envs`.
pub fn child_env(
    identity: &IdentityTwin,
    ca: &TestCa,
    ca_file: &Path,
    resolve: &[(String, SocketAddr)],
) -> std::io::Result<Vec<(String, String)>> {
    ca.write_ca(ca_file)?;
    let resolve = resolve.iter().map(|(host, addr)| format!("{host}={addr}")).collect::<Vec<_>>().join(",");
    Ok(vec![
        ("KEYRELAY_CREDENTIAL".into(), "managed-identity".into()),
        ("IDENTITY_ENDPOINT".into(), identity.endpoint()),
        ("IDENTITY_HEADER".into(), identity.header.clone()),
        ("KEYRELAY_EXTRA_CA_FILE".into(), ca_file.display().to_string()),
        ("KEYRELAY_RESOLVE".into(), resolve),
    ])
}
