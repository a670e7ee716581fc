//! A connection's frame transport as its driver sees it ([`FrameIo`]): over a byte
//! stream ([`StreamIo`]) or over a peer's datagrams ([`DatagramIo`], on a transport's
//! [`Datagrams`]); the buffers' accounting with the memory budget (their pool is
//! `crate::pool`, shared with the TLS wrappers).

pub(crate) mod budget;
mod datagram;
mod frame_io;
mod output;
mod stream;

pub use datagram::Datagrams;
pub(crate) use datagram::{whole_datagrams, DatagramIo};
pub(crate) use frame_io::FrameIo;
pub(crate) use stream::StreamIo;
