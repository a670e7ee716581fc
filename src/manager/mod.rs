//! Managers own an endpoint for one transport: they listen and accept, connect out,
//! track every live connection by (local, remote) address, stop, and shut down
//! gracefully. Every transport stands on one [`Engine`] and offers the same surface,
//! the [`Manager`] trait; the [`Registry`] finds or creates the one manager for a
//! (transport, endpoint) pair, and lets third parties plug in transports by name.

mod builder;
pub(crate) mod core;
mod engine;
mod listen;
#[cfg(feature = "metrics")]
pub mod metrics;
mod registry;
mod spawn;
pub(crate) mod stats;
mod surface;
#[cfg(all(unix, feature = "systemd"))]
pub mod systemd;
mod table;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub(crate) use self::core::Core;
pub use builder::Builder;
pub use engine::{Accepted, Bounds, Engine};
pub use listen::Listener;
pub use registry::{find_tendril, get_manager, registry, Registry, Transport};
pub use stats::Stats;
pub use surface::{connect_stream, ConnectStream, Manager};
pub use tcp::{TcpBuilder, TcpManager, TcpOptions};
pub use udp::{UdpBuilder, UdpManager, UdpOptions};
#[cfg(unix)]
pub use unix::{UnixBuilder, UnixManager, UnixOptions};
