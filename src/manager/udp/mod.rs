//! UDP with connection tracking: see [`UdpManager`].

mod manager;
mod peer_io;
mod router;

pub use manager::{UdpBuilder, UdpManager};
