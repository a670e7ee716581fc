//! The messages a user sees, compared whole: each error and close reason says its
//! chain of causes once, errors from binding and connecting name the address, and
//! `Debug` (what `main` returning `Err` prints) is the message, not a structure.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::client::Client;
use tendril_net::framer::{FramerSwitch, LineFramer};
use tendril_net::{BoxError, CloseReason, Connect, Error, TcpManager};
use tokio::io::AsyncReadExt;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::support::*;

/// The system's words for an error number, as `io::Error` prints them.
fn os(code: i32) -> String {
    io::Error::from_raw_os_error(code).to_string()
}

#[cfg(target_os = "linux")]
const EADDRINUSE: i32 = 98;
#[cfg(target_os = "linux")]
const ECONNREFUSED: i32 = 111;
#[cfg(target_os = "linux")]
const ECONNRESET: i32 = 104;

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_taken_address_names_the_address_once_in_every_form() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = TcpManager::new(addr)
        .start(
            tendril_net::app::acceptor_fn(|_| {
                Ok(tendril_net::app::service(
                    |line: Bytes| async move { Ok(line) },
                ))
            }),
            tendril_net::wrap::NoWrapper,
        )
        .unwrap_err();
    let whole = format!("cannot listen on tcp {addr}: {}", os(EADDRINUSE));
    assert_eq!(format!("{err:#}"), whole);
    assert_eq!(format!("{err}"), format!("cannot listen on tcp {addr}"));
    // What `fn main() -> Result<(), BoxError>` prints after `Error: `.
    let boxed: BoxError = err.into();
    assert_eq!(format!("{boxed:?}"), whole);
    let err = Error::find(&*boxed).expect("a tendril-net error");
    assert!(err.is_io());
    assert_eq!(
        err.cause::<io::Error>().map(io::Error::kind),
        Some(io::ErrorKind::AddrInUse)
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_refused_connection_names_the_target() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let manager = TcpManager::new("127.0.0.1:0".parse().unwrap());
    let err = manager
        .connect(
            target,
            tendril_net::app::acceptor_fn(|_| {
                Ok(tendril_net::app::service(|_: Bytes| async move { Ok(()) }))
            }),
            tendril_net::wrap::NoWrapper,
        )
        .await
        .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        format!("cannot connect to tcp {target}: {}", os(ECONNREFUSED))
    );
}

/// A reset under a pending call, the message of a client whose server died: the
/// close reason's chain once, not twice.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_reset_is_said_once_through_the_client_and_tower() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 6];
        stream.read_exact(&mut request).await.unwrap();
        // Close with a reset (SO_LINGER 0) instead of answering.
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(stream);
    });
    let client = Client::<Bytes>::pipelined()
        .connect(
            &TcpManager::new("127.0.0.1:0".parse().unwrap()),
            addr,
            tendril_net::wrap::NoWrapper,
            FramerSwitch::symmetric(LineFramer::new()),
        )
        .await
        .unwrap();
    // Behind tower's Timeout, as a user's stack has it: the error is a BoxError.
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_secs(20))
        .service(client);
    let err: BoxError = service
        .ready()
        .await
        .unwrap()
        .call(Bytes::from_static(b"hello"))
        .await
        .unwrap_err();
    server.await.unwrap();
    let expected = format!("connection closed: I/O error: {}", os(ECONNRESET));
    assert_eq!(format!("{err:#}"), expected);
    assert_eq!(format!("{err:?}"), expected);
    let closed = Error::find(&*err).expect("a tendril-net error");
    assert!(closed.is_closed());
    let reason = closed.cause::<CloseReason>().expect("the close reason");
    assert_eq!(
        format!("{reason}"),
        format!("I/O error: {}", os(ECONNRESET))
    );
    assert!(reason.as_error().is_some_and(Error::is_io));
}

/// A line over the limit: the reason says which limit, once, however it is reached.
#[tokio::test]
async fn a_framing_close_is_said_once() {
    let (_manager, addr, mut tendrils) = recording_server(
        TcpManager::new("127.0.0.1:0".parse().unwrap()),
        "line",
        || tendril_net::app::service(|line: Bytes| async move { Ok(line) }),
    );
    let _stream = client(addr, &vec![b'x'; 70_000]).await;
    let tendril = tendrils.recv().await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(20), tendril.closed())
        .await
        .unwrap();
    assert_eq!(
        reason.to_string(),
        "framing error: line longer than 65536 bytes"
    );
    assert_eq!(
        format!("{:#}", Error::closed_by(reason)),
        "connection closed: framing error: line longer than 65536 bytes"
    );
}
