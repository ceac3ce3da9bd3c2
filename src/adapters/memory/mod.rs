//! In-memory implementations of the ports: the simulator's world, and the embedded stand-ins
//! for a rotation with no Azure account. They keep the same contracts as the real adapters
//! (compare-and-swap, version tags, duplicate-free MessageIds), so the driver cannot tell.

mod bus;
mod provider;
mod secrets;
mod store;

pub use bus::MemoryBus;
pub use provider::MemoryProvider;
pub use secrets::MemorySecrets;
pub use store::MemoryStore;
