//! Service Bus failures as the ports report them: transient (retry later) or not.

use crate::ports::BusError;
use azure_core_021::error::ErrorKind;

/// 408, 429 and 5xx, and I/O failures, are worth retrying; 401/403/404/410 are not (wrong role,
/// missing entity) and need an operator.
pub fn bus_error(what: &str, error: azure_core_021::Error) -> BusError {
    let transient = match error.kind() {
        ErrorKind::HttpResponse { status, .. } => {
            let code = *status as u16;
            code == 408 || code == 429 || code >= 500
        }
        ErrorKind::Io => true,
        _ => false,
    };
    BusError::Failed { detail: format!("{what}: {error}"), transient }
}

pub fn status_error(what: &str, status: u16) -> BusError {
    BusError::Failed { detail: format!("{what}: Service Bus answered {status}"), transient: status == 408 || status == 429 || status >= 500 }
}
