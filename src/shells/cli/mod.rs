//! The `keyrelay` command line's Functions commands: `serve` (what the host starts) and
//! `package` (the deployable zip). `wiring` builds the production handler from app settings.

pub mod package;
pub mod redis_wiring;
pub mod serve;
pub mod wiring;
pub mod evidence;
