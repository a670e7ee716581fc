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

/// A connected pair of loopback TCP sockets: the connection's and its peer's.
#[cfg(test)]
async fn tcp_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (socket, _) = listener.accept().await.unwrap();
    (socket, peer)
}
