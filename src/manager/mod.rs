//! Managers own an endpoint for one transport: they listen and accept, connect out,
//! track every live connection by (local, remote) address, stop, and shut down
//! gracefully. Every transport stands on one [`Engine`] and offers the same surface,
//! the [`Manager`] trait, and connects through [`Connect`]; the [`Registry`] finds or
//! creates the one manager for a (transport, endpoint) pair, and lets third parties
//! plug in transports by name.
//!
//! - `engine/`: the one engine (table, bounds, spawn, accept, connect, shutdown);
//! - `surface`: the [`Manager`] and [`Connect`] traits;
//! - `builder`: a manager's settings before it is built ([`Builder`]);
//! - `stream`: stream transports written once ([`StreamTransport`],
//!   [`StreamManager`]); `tcp` and `unix` are two;
//! - `udp/`: UDP, every peer a connection;
//! - `registry`, `metrics` (feature `metrics`), `systemd` (feature `systemd`).

mod builder;
mod engine;
#[cfg(feature = "metrics")]
pub mod metrics;
mod registry;
mod stream;
mod surface;
#[cfg(all(unix, feature = "systemd"))]
pub mod systemd;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use crate::tendril::Datagrams;
pub use builder::{BuildManager, Builder};
pub use engine::{Accepted, Bounds, Engine, Listener, SourceLimits, SourceRate, Stats};
pub use registry::{find_tendril, get_manager, registry, Registry, Transport};
pub use stream::{StreamManager, StreamTransport};
pub use surface::{Connect, Manager, TransportMetric};
pub use tcp::{Tcp, TcpAccept, TcpBuilder, TcpManager};
pub use udp::{UdpBuilder, UdpManager, UdpOptions, UdpPeer, UdpStats, UdpWrapper};
#[cfg(unix)]
pub use unix::{Unix, UnixAccept, UnixBuilder, UnixManager};
