//! Managers own an endpoint for one transport: they listen and accept, connect out,
//! track every live connection by (local, remote) address, stop, and shut down
//! gracefully. The [`Registry`] finds or creates the one manager for a (transport,
//! endpoint) pair, and lets third parties plug in transports by name.

mod common;
mod connections;
pub(crate) mod core;
mod listen;
mod registry;
pub(crate) mod stats;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub(crate) use self::core::Core;
pub use connections::{Accepted, Connections};
pub use listen::Listener;
pub use registry::{find_tendril, get_manager, registry, Endpoint, Manager, Registry, Transport};
pub use stats::Stats;
pub use tcp::{TcpBuilder, TcpManager};
pub use udp::{UdpBuilder, UdpManager};
#[cfg(unix)]
pub use unix::UnixManager;
