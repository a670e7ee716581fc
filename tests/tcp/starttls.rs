//! Live wrap: STARTTLS on a line protocol, and the plaintext injection it must refuse.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::{
    tls_server_config, HandshakeShed, NoWrapper, PlaintextAfterUpgrade, TlsServer, TlsServerLayer,
};
use tendril_net::{BoxError, CloseReason, Connect, TcpManager, Tendril};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tower::service_fn;
use tower::Layer;

use crate::support::{localhost, within};
use crate::tls::{certificate, tls_upgrade};

struct Server {
    addr: std::net::SocketAddr,
    /// Every line the application received, in order.
    received: Arc<Mutex<Vec<Bytes>>>,
    /// How the (one) connection closed.
    closed: tokio::sync::oneshot::Receiver<(CloseReason, bool)>,
    _manager: TcpManager,
}

/// A line server: `STARTTLS` wraps the connection and returns `READY`, which goes out
/// in plaintext before the handshake; other lines are echoed with whether TLS is on.
fn starttls_server(cert: &(String, String)) -> Server {
    let tls = TlsServerLayer::new(tls_server_config(cert.0.as_bytes(), cert.1.as_bytes()).unwrap())
        .layer(NoWrapper);
    starttls_server_with(tls)
}

/// [`starttls_server`] upgrading with `tls` (clones of it share its handshake slots).
fn starttls_server_with(tls: TlsServer) -> Server {
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = received.clone();
    let (closed_tx, closed) = tokio::sync::oneshot::channel();
    let closed_tx = Arc::new(Mutex::new(Some(closed_tx)));
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                let on_close = closed_tx.clone();
                let seen = tendril.clone();
                tendril.on_close(move |reason| {
                    if let Some(tx) = on_close.lock().unwrap().take() {
                        let _ = tx.send((reason, seen.tls().is_some()));
                    }
                });
                let (tls, record) = (tls.clone(), record.clone());
                Ok(service_fn(move |line: Bytes| {
                    record.lock().unwrap().push(line.clone());
                    let (tendril, tls) = (tendril.clone(), tls.clone());
                    async move {
                        if line == "STARTTLS" {
                            // The returned READY goes out in plaintext, then the wrap.
                            tendril.wrap(tls)?;
                            return Ok::<_, BoxError>(Some(Bytes::from("READY")));
                        }
                        let mode = if tendril.tls().is_some() {
                            "tls"
                        } else {
                            "plain"
                        };
                        Ok(Some(Bytes::from(format!(
                            "{mode} {}",
                            String::from_utf8_lossy(&line)
                        ))))
                    }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    Server {
        addr,
        received,
        closed,
        _manager: manager,
    }
}

#[tokio::test]
async fn a_client_that_upgrades_correctly_continues_over_tls() {
    let cert = certificate();
    let server = starttls_server(&cert);
    let mut plain = Framed::new(
        within(TcpStream::connect(server.addr)).await.unwrap(),
        LineFramer::new(),
    );
    plain.send(Bytes::from("HELLO")).await.unwrap();
    assert_eq!(within(plain.next()).await.unwrap().unwrap(), "plain HELLO");
    plain.send(Bytes::from("STARTTLS")).await.unwrap();
    assert_eq!(within(plain.next()).await.unwrap().unwrap(), "READY");
    let parts = plain.into_parts();
    assert!(parts.read_buf.is_empty());
    let tls = tls_upgrade(parts.io, &cert.0).await;
    let mut secure = Framed::new(tls, LineFramer::new());
    secure.send(Bytes::from("HELLO")).await.unwrap();
    assert_eq!(within(secure.next()).await.unwrap().unwrap(), "tls HELLO");
    SinkExt::<Bytes>::close(&mut secure).await.unwrap();
    drop(secure);
    let (reason, had_tls) = within(server.closed).await.unwrap();
    assert!(had_tls);
    assert!(!matches!(reason, CloseReason::Error(_)), "{reason}");
    assert_eq!(
        *server.received.lock().unwrap(),
        ["HELLO", "STARTTLS", "HELLO"]
    );
}

#[tokio::test]
async fn a_command_pipelined_after_starttls_is_never_delivered() {
    let cert = certificate();
    let server = starttls_server(&cert);
    let mut stream = within(TcpStream::connect(server.addr)).await.unwrap();
    // The injection: a command right behind STARTTLS, in the same segment.
    stream.write_all(b"STARTTLS\r\nINJECTED\r\n").await.unwrap();
    let mut reply = Vec::new();
    let _ = within(stream.read_to_end(&mut reply)).await;
    assert_eq!(
        reply, b"READY\r\n",
        "the answer goes out, then the connection closes"
    );
    let (reason, had_tls) = within(server.closed).await.unwrap();
    assert!(!had_tls);
    let CloseReason::Error(err) = reason else {
        panic!("expected an error, got {reason}");
    };
    assert!(err.is_wrap());
    assert_eq!(
        err.cause::<PlaintextAfterUpgrade>(),
        Some(&PlaintextAfterUpgrade { bytes: 10 })
    );
    assert_eq!(*server.received.lock().unwrap(), ["STARTTLS"]);
}

#[tokio::test]
async fn the_client_side_upgrades_a_live_connection_too() {
    use tendril_net::wrap::{tls_client_config, TlsClientLayer};

    let cert = certificate();
    let server = starttls_server(&cert);
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let tls = TlsClientLayer::new(tls_client_config(cert.0.as_bytes()).unwrap(), "localhost")
        .unwrap()
        .layer(NoWrapper);
    let client = within(TcpManager::new(localhost()).connect(
        server.addr,
        acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
            tendril.set_framers(LineFramer::new(), LineFramer::new())?;
            let (lines_tx, tls) = (lines_tx.clone(), tls.clone());
            Ok(service_fn(move |line: Bytes| {
                if line == "READY" {
                    // Nothing is queued after STARTTLS: wrap now.
                    tendril.wrap(tls.clone()).unwrap();
                }
                let _ = lines_tx.send(line);
                async { Ok::<_, BoxError>(()) }
            }))
        }),
        NoWrapper,
    ))
    .await
    .unwrap();
    client.send_frame(Bytes::from("STARTTLS")).await.unwrap();
    assert_eq!(within(lines.recv()).await.unwrap(), "READY");
    client.send_frame(Bytes::from("HELLO")).await.unwrap();
    assert_eq!(within(lines.recv()).await.unwrap(), "tls HELLO");
    assert!(client.tls().is_some());
    assert!(client.tls().unwrap().peer_certificates.len() == 1);
}

#[tokio::test]
async fn a_datagram_connection_cannot_be_wrapped() {
    use tendril_net::UdpManager;

    let cert = certificate();
    let tls = TlsServerLayer::new(tls_server_config(cert.0.as_bytes(), cert.1.as_bytes()).unwrap())
        .layer(NoWrapper);
    let server = UdpManager::new(localhost());
    let (closed_tx, closed) = tokio::sync::oneshot::channel();
    let closed_tx = Arc::new(Mutex::new(Some(closed_tx)));
    let addr = server
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                let closed_tx = closed_tx.clone();
                tendril.on_close(move |reason| {
                    if let Some(tx) = closed_tx.lock().unwrap().take() {
                        let _ = tx.send(reason);
                    }
                });
                tendril.wrap(tls.clone())?;
                Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
            }),
            NoWrapper,
        )
        .unwrap();
    let socket = tokio::net::UdpSocket::bind(localhost()).await.unwrap();
    socket.send_to(b"hello", addr).await.unwrap();
    let reason = within(closed).await.unwrap();
    let err = reason.as_error().expect("an error");
    assert!(err.is_wrap(), "{err}");
}

#[tokio::test]
async fn a_silent_upgrade_is_shed_for_a_real_one() {
    let cert = certificate();
    let config = tls_server_config(cert.0.as_bytes(), cert.1.as_bytes()).unwrap();
    let server = starttls_server_with(
        TlsServerLayer::new(config)
            .max_handshakes(1)
            .layer(NoWrapper),
    );
    let upgrade = |addr| async move {
        let mut plain = Framed::new(
            within(TcpStream::connect(addr)).await.unwrap(),
            LineFramer::new(),
        );
        plain.send(Bytes::from("STARTTLS")).await.unwrap();
        assert_eq!(within(plain.next()).await.unwrap().unwrap(), "READY");
        plain.into_parts().io
    };
    // The first upgrades and then says nothing: it holds the only slot.
    let mut silent = upgrade(server.addr).await;
    // The second upgrades for real, at once.
    let tls = tls_upgrade(upgrade(server.addr).await, &cert.0).await;
    let mut secure = Framed::new(tls, LineFramer::new());
    secure.send(Bytes::from("HELLO")).await.unwrap();
    assert_eq!(within(secure.next()).await.unwrap().unwrap(), "tls HELLO");
    // The silent one was closed for it, and says why.
    let (reason, _) = within(server.closed).await.unwrap();
    let err = reason.as_error().expect("an error");
    assert!(
        err.is_wrap() && err.cause::<HandshakeShed>().is_some(),
        "{reason}"
    );
    let mut rest = Vec::new();
    let _ = within(silent.read_to_end(&mut rest)).await;
}

/// After STARTTLS, a client that sends a line and ends its TCP side without a TLS
/// close_notify still gets its answer, as over TLS from the start.
#[tokio::test]
async fn a_ragged_end_after_starttls_is_still_answered() {
    let cert = certificate();
    let server = starttls_server(&cert);
    let tcp = within(TcpStream::connect(server.addr)).await.unwrap();
    let std = tcp.into_std().unwrap();
    // A second handle on the socket, to end it under the TLS layer.
    let raw = std.try_clone().unwrap();
    let mut plain = Framed::new(TcpStream::from_std(std).unwrap(), LineFramer::new());
    plain.send(Bytes::from("STARTTLS")).await.unwrap();
    assert_eq!(within(plain.next()).await.unwrap().unwrap(), "READY");
    let mut tls = tls_upgrade(plain.into_parts().io, &cert.0).await;
    tls.write_all(b"LAST\r\n").await.unwrap();
    tls.flush().await.unwrap();
    raw.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = within(tls.read_to_end(&mut answer)).await;
    assert_eq!(answer, b"tls LAST\r\n");
    let (reason, had_tls) = within(server.closed).await.unwrap();
    assert!(had_tls);
    assert!(reason.to_string().contains("close_notify"), "{reason}");
}
