//! Helpers shared by the TCP tests (and, re-exported, those of every test crate).

#[path = "../support/net.rs"]
mod net;
pub use net::*;

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tendril_net::app::{acceptor_fn, Application};
use tendril_net::framer::{named, AnyDecoder, AnyEncoder};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, TcpManager, Tendril};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};
use tower::service_fn;

pub fn framers(name: &str) -> (AnyDecoder, AnyEncoder) {
    named(name).unwrap_or_else(|| panic!("unknown framer {name}"))
}

/// Starts an echo server using framer `name`; returns the manager and its address.
pub fn echo_server(manager: TcpManager, name: &'static str) -> (TcpManager, SocketAddr) {
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                let (recv, send) = framers(name);
                tendril.set_framers(recv, send)?;
                Ok(service_fn(|frame: Bytes| async move {
                    Ok::<_, BoxError>(frame)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr)
}

/// Starts `manager` with framer `name` and `app()` as each connection's application;
/// every connection's Tendril comes out of the receiver, in the order accepted.
pub fn recording_server<A>(
    manager: TcpManager,
    name: &'static str,
    app: impl Fn() -> A + Send + 'static,
) -> (TcpManager, SocketAddr, mpsc::UnboundedReceiver<Tendril>)
where
    A: Application<Bytes, Bytes>,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| {
                let (recv, send) = framers(name);
                tendril.set_framers(recv, send)?;
                tx.send(tendril).unwrap();
                Ok(app())
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr, rx)
}

/// Encodes `frames` with framer `name`.
pub fn encode(name: &str, frames: &[&[u8]]) -> Vec<u8> {
    let (_, mut encoder) = framers(name);
    let mut out = BytesMut::new();
    for frame in frames {
        encoder
            .encode(Bytes::copy_from_slice(frame), &mut out)
            .unwrap();
    }
    out.to_vec()
}

/// Reads from `stream` until `count` frames of framer `name` decode (bounded).
pub async fn read_frames(stream: &mut TcpStream, name: &str, count: usize) -> Vec<Bytes> {
    let (mut decoder, _) = framers(name);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    within(async {
        while frames.len() < count {
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
            if frames.len() >= count {
                break;
            }
            let n = stream.read_buf(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "server closed after {} of {count} frames",
                frames.len()
            );
        }
    })
    .await;
    frames
}

/// Reads everything until the peer closes (bounded).
pub async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    within(stream.read_to_end(&mut out)).await.unwrap();
    out
}

/// Reads until the server closes the connection, with a FIN or, when it closed with
/// unread data from us, a reset; returns what was read before.
pub async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    match within(stream.read_to_end(&mut out)).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!("{err}"),
    }
    out
}

/// Connects a raw client and writes `bytes` in one call.
pub async fn client(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = within(TcpStream::connect(addr)).await.unwrap();
    within(stream.write_all(bytes)).await.unwrap();
    stream
}
