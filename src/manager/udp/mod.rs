//! UDP with connection tracking: see [`UdpManager`].

mod manager;
mod peer_io;
mod peers;
mod router;

pub use manager::{UdpBuilder, UdpManager, UdpOptions};
