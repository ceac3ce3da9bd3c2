//! `sweeper` (timer): the backstop. It ticks every in-flight rotation that is due, so a lost
//! wake-up message, a crashed instance or a passed deadline is noticed within one period.

use super::super::{Handler, InvocationResponse, Retry};

pub(crate) async fn run(h: &Handler) -> Result<InvocationResponse, Retry> {
    let mut resp = InvocationResponse::default();
    let handled = h.orchestrator.sweep().await.map_err(|e| Retry(format!("sweeper: {e}")))?;
    for done in &handled {
        resp.log(format!("rotation {} is {}", done.rotation.id, done.rotation.phase.name()));
        h.schedule_wake(&done.rotation, &mut resp).await?;
    }
    resp.log(format!("sweeper: {} due rotation(s) advanced", handled.len()));
    Ok(resp)
}
