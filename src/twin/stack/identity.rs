//! One managed-identity token endpoint per process. azure_identity's managed identity
//! credential reads `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` from the environment, so the stack's
//! in-process consumers (and every stack a test process starts) share one endpoint, started on
//! its own thread so it outlives any one tokio runtime, with the variables set once.

use crate::twin::IdentityTwin;
use std::sync::OnceLock;

static IDENTITY: OnceLock<IdentityTwin> = OnceLock::new();

/// The process-wide identity twin; the environment points at it from the first call on.
pub fn process_identity() -> &'static IdentityTwin {
    IDENTITY.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("identity runtime");
            runtime.block_on(async move {
                let _ = tx.send(IdentityTwin::start().await);
                std::future::pending::<()>().await;
            });
        });
        let identity = rx.recv().expect("identity twin thread").expect("identity twin started");
        // Set once, before any credential in this process reads them.
        std::env::set_var("IDENTITY_ENDPOINT", identity.endpoint());
        std::env::set_var("IDENTITY_HEADER", &identity.header);
        identity
    })
}
