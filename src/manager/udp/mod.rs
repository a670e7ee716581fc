//! UDP: one socket, every peer a connection. `manager` is the [`UdpManager`],
//! `router` its receive loop, `peers` its peer table and who is shed from it, `peer`
//! one peer's datagrams ([`UdpPeer`]), `stats` the counters only UDP has.

mod drops;
mod manager;
mod peer;
mod peers;
mod router;
mod socket;
mod stats;

pub use manager::{UdpBuilder, UdpManager, UdpOptions, UdpWrapper};
pub use peer::UdpPeer;
pub use stats::UdpStats;
