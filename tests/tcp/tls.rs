//! TLS wrappers: echo over TLS, certificate checks, handshake failures and limits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::{
    tls_client_config, tls_server_config, HandshakeTimeout, NoWrapper, TlsClientLayer, TlsInfo,
    TlsServerLayer, WrapperChain,
};
use tendril_net::{BoxError, Connect, Manager, TcpManager, Tendril};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use tower::Layer;
use tower::{service_fn, ServiceExt};

use crate::support::{eventually, localhost, within};

/// A self-signed certificate for `localhost`: (certificate PEM, key PEM).
pub(crate) fn certificate() -> (String, String) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (key.cert.pem(), key.signing_key.serialize_pem())
}

/// A TLS line echo server; the acceptor records each connection's TLS session.
fn tls_echo_server(
    tls: TlsServerLayer,
) -> (TcpManager, std::net::SocketAddr, Arc<Mutex<Vec<TlsInfo>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                if let Some(info) = tendril.tls() {
                    record.lock().unwrap().push(info.clone());
                }
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service_fn(
                    |line: Bytes| async move { Ok::<_, BoxError>(line) },
                ))
            }),
            WrapperChain::new().layer(tls),
        )
        .unwrap();
    (manager, addr, seen)
}

fn server_layer(cert: &(String, String)) -> TlsServerLayer {
    TlsServerLayer::new(tls_server_config(cert.0.as_bytes(), cert.1.as_bytes()).unwrap())
}

/// A TLS client connection made by the crate's own client wrapper, framed by lines.
pub(crate) async fn tls_client_stream(
    addr: std::net::SocketAddr,
    roots_pem: &str,
) -> impl tokio::io::AsyncRead + tokio::io::AsyncWrite {
    let tcp = within(TcpStream::connect(addr)).await.unwrap();
    tls_upgrade(tcp, roots_pem).await
}

/// The client side of a TLS handshake on `tcp`, by the crate's own client wrapper.
pub(crate) async fn tls_upgrade(
    tcp: TcpStream,
    roots_pem: &str,
) -> impl tokio::io::AsyncRead + tokio::io::AsyncWrite {
    let client = TlsClientLayer::new(
        tls_client_config(roots_pem.as_bytes()).unwrap(),
        "localhost",
    )
    .unwrap()
    .layer(NoWrapper);
    within(client.oneshot(tcp)).await.unwrap()
}

async fn tls_client(
    addr: std::net::SocketAddr,
    roots_pem: &str,
) -> Framed<impl tokio::io::AsyncRead + tokio::io::AsyncWrite, LineFramer> {
    Framed::new(tls_client_stream(addr, roots_pem).await, LineFramer::new())
}

#[tokio::test]
async fn echo_over_tls_shows_the_session_on_both_sides() {
    let cert = certificate();
    let (manager, addr, seen) = tls_echo_server(server_layer(&cert).alpn_protocols(["line", "h2"]));

    // The client side: a connection of a TCP manager, wrapped by the TLS client.
    let replies = Arc::new(Mutex::new(Vec::new()));
    let record = replies.clone();
    let client_manager = TcpManager::new(localhost());
    let wrapper = TlsClientLayer::new(tls_client_config(cert.0.as_bytes()).unwrap(), "localhost")
        .unwrap()
        .alpn_protocols(["line"]);
    let tendril = within(client_manager.connect(
        addr,
        acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
            tendril.set_framers(LineFramer::new(), LineFramer::new())?;
            let record = record.clone();
            Ok(service_fn(move |line: Bytes| {
                record.lock().unwrap().push(line);
                async { Ok::<_, BoxError>(()) }
            }))
        }),
        WrapperChain::new().layer(wrapper),
    ))
    .await
    .unwrap();
    let client_tls = tendril
        .tls()
        .expect("the client sees its TLS session")
        .clone();
    assert_eq!(client_tls.alpn_protocol.as_deref(), Some(&b"line"[..]));
    assert_eq!(
        client_tls.peer_certificates.len(),
        1,
        "the server's certificate"
    );
    assert!(client_tls.protocol_version.is_some());

    for line in ["one", "two", "three"] {
        tendril.send_frame(Bytes::from(line)).await.unwrap();
    }
    eventually(|| replies.lock().unwrap().len() == 3).await;
    assert_eq!(*replies.lock().unwrap(), ["one", "two", "three"]);

    let server_tls = seen.lock().unwrap()[0].clone();
    assert_eq!(server_tls.alpn_protocol.as_deref(), Some(&b"line"[..]));
    assert_eq!(server_tls.server_name.as_deref(), Some("localhost"), "SNI");
    assert!(
        server_tls.peer_certificates.is_empty(),
        "no client certificate"
    );
    let stats = manager.stats();
    assert_eq!((stats.wrap_failed, stats.open), (0, 1));
}

/// With SNI off, the client does not send the name (it still verifies the server as it).
#[tokio::test]
async fn a_client_without_sni_sends_no_server_name() {
    let cert = certificate();
    let (_manager, addr, seen) = tls_echo_server(server_layer(&cert));
    let wrapper = TlsClientLayer::new(tls_client_config(cert.0.as_bytes()).unwrap(), "localhost")
        .unwrap()
        .sni(false);
    let tendril = within(TcpManager::new(localhost()).connect(
        addr,
        acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
            Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
        }),
        WrapperChain::new().layer(wrapper),
    ))
    .await
    .unwrap();
    assert!(tendril.tls().is_some());
    eventually(|| !seen.lock().unwrap().is_empty()).await;
    assert_eq!(seen.lock().unwrap()[0].server_name, None, "no SNI");
}

#[tokio::test]
async fn a_client_that_trusts_another_certificate_is_refused() {
    let cert = certificate();
    let other = certificate();
    let (manager, addr, seen) = tls_echo_server(server_layer(&cert));
    let err = TcpManager::new(localhost())
        .connect(
            addr,
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
            }),
            TlsClientLayer::new(tls_client_config(other.0.as_bytes()).unwrap(), "localhost")
                .unwrap()
                .layer(NoWrapper),
        )
        .await
        .unwrap_err();
    assert!(err.is_wrap(), "{err}");
    // The server saw its handshake fail (the client's alert), counted it, and goes on.
    eventually(|| manager.stats().wrap_failed == 1).await;
    assert!(seen.lock().unwrap().is_empty(), "the acceptor never saw it");
    let mut good = tls_client(addr, &cert.0).await;
    good.send(Bytes::from("still here")).await.unwrap();
    assert_eq!(within(good.next()).await.unwrap().unwrap(), "still here");
}

#[tokio::test]
async fn a_client_that_says_nothing_times_out_and_others_are_served() {
    let cert = certificate();
    let (manager, addr, _) =
        tls_echo_server(server_layer(&cert).handshake_timeout(Duration::from_millis(300)));
    let mut silent = within(TcpStream::connect(addr)).await.unwrap();
    let mut good = tls_client(addr, &cert.0).await;
    good.send(Bytes::from("hello")).await.unwrap();
    assert_eq!(within(good.next()).await.unwrap().unwrap(), "hello");
    // The silent one is closed after the timeout, without a byte.
    let mut buf = [0u8; 16];
    let read = within(silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // Counted once the wrapping task has finished (just after the socket closed).
    eventually(|| manager.stats().wrap_failed == 1).await;
}

#[tokio::test]
async fn garbage_instead_of_a_client_hello_closes_that_connection_only() {
    let cert = certificate();
    let (manager, addr, _) = tls_echo_server(server_layer(&cert));
    let mut garbage = within(TcpStream::connect(addr)).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    let _ = within(garbage.read_to_end(&mut rest)).await;
    eventually(|| manager.stats().wrap_failed == 1).await;
    let mut good = tls_client(addr, &cert.0).await;
    good.send(Bytes::from("fine")).await.unwrap();
    assert_eq!(within(good.next()).await.unwrap().unwrap(), "fine");
}

#[tokio::test]
async fn the_client_wrapper_times_out_on_a_server_that_says_nothing() {
    let cert = certificate();
    let listener = TcpListener::bind(localhost()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move { listener.accept().await });
    let wrapper = TlsClientLayer::new(tls_client_config(cert.0.as_bytes()).unwrap(), "localhost")
        .unwrap()
        .handshake_timeout(Duration::from_millis(200));
    let manager = TcpManager::new(localhost());
    let err = within(manager.connect(
        addr,
        acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
            Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
        }),
        WrapperChain::new().layer(wrapper),
    ))
    .await
    .unwrap_err();
    assert!(err.is_wrap());
    assert_eq!(
        err.cause::<HandshakeTimeout>(),
        Some(&HandshakeTimeout {
            after: Duration::from_millis(200)
        })
    );
    assert_eq!(manager.stats().wrap_failed, 1);
    drop(hold);
}

/// True once the server closed `stream` (end of stream or reset), bounded.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(within(stream.read(&mut buf)).await, Ok(0) | Err(_))
}

#[tokio::test]
async fn with_every_slot_taken_the_oldest_silent_handshake_is_shed() {
    let cert = certificate();
    let (manager, addr, _) = tls_echo_server(server_layer(&cert).max_handshakes(2));
    // Two silent clients take both slots, the first one first.
    let mut first = within(TcpStream::connect(addr)).await.unwrap();
    eventually(|| manager.stats().wrapping == 1).await;
    let mut second = within(TcpStream::connect(addr)).await.unwrap();
    eventually(|| manager.stats().wrapping == 2).await;
    // A real client is still accepted at once: the oldest silent one makes room.
    let mut good = tls_client(addr, &cert.0).await;
    good.send(Bytes::from("hello")).await.unwrap();
    assert_eq!(within(good.next()).await.unwrap().unwrap(), "hello");
    assert!(closed_by_server(&mut first).await);
    eventually(|| manager.stats().wrap_failed == 1).await;
    assert_eq!(manager.stats().wrapping, 1, "the second still has its slot");
    // A silent newcomer takes the free slot, the next one the second's: accepting
    // never stopped.
    let _third = within(TcpStream::connect(addr)).await.unwrap();
    eventually(|| manager.stats().wrapping == 2).await;
    let _fourth = within(TcpStream::connect(addr)).await.unwrap();
    assert!(closed_by_server(&mut second).await);
    eventually(|| manager.stats().wrap_failed == 2).await;
    assert_eq!(manager.stats().total, 1);
}

#[tokio::test]
async fn a_flood_of_silent_clients_never_keeps_a_real_one_waiting() {
    let cert = certificate();
    let (manager, addr, _) = tls_echo_server(server_layer(&cert).max_handshakes(4));
    let mut silent = Vec::new();
    for round in 0..5 {
        // Twice the slots in silent clients, then a real one.
        for _ in 0..8 {
            silent.push(within(TcpStream::connect(addr)).await.unwrap());
        }
        let mut good = tls_client(addr, &cert.0).await;
        good.send(Bytes::from(format!("round {round}")))
            .await
            .unwrap();
        assert_eq!(
            within(good.next()).await.unwrap().unwrap(),
            format!("round {round}")
        );
    }
    assert_eq!(manager.stats().total, 5);
    assert!(manager.stats().wrapping <= 4);
}

#[tokio::test]
async fn a_chain_of_socket_options_then_tls() {
    use tendril_net::wrap::{wrap_fn, SocketOptionsLayer};
    let cert = certificate();
    let seen_ttl = Arc::new(Mutex::new(None));
    let record = seen_ttl.clone();
    let chain = WrapperChain::new()
        .layer(SocketOptionsLayer::new().ttl(42).nodelay(true))
        .layer(wrap_fn(move |stream: TcpStream| {
            *record.lock().unwrap() = Some((stream.ttl().unwrap(), stream.nodelay().unwrap()));
            async move { Ok::<_, std::io::Error>(stream) }
        }))
        .layer(server_layer(&cert));
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                assert!(tendril.tls().is_some());
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service_fn(
                    |line: Bytes| async move { Ok::<_, BoxError>(line) },
                ))
            }),
            chain,
        )
        .unwrap();
    let mut client = tls_client(addr, &cert.0).await;
    client.send(Bytes::from("chained")).await.unwrap();
    assert_eq!(within(client.next()).await.unwrap().unwrap(), "chained");
    assert_eq!(*seen_ttl.lock().unwrap(), Some((42, true)));
}

#[tokio::test]
async fn a_client_over_tls_through_a_manager_and_a_wrapper() {
    use tendril_net::client::Client;
    use tendril_net::framer::FramerSwitch;
    use tower::Service;

    let cert = certificate();
    let (_server, addr, _) = tls_echo_server(server_layer(&cert));
    let tls = TlsClientLayer::new(tls_client_config(cert.0.as_bytes()).unwrap(), "localhost")
        .unwrap()
        .layer(NoWrapper);
    let mut client = within(Client::<Bytes>::pipelined().connect(
        &TcpManager::new(localhost()),
        addr,
        tls,
        FramerSwitch::symmetric(LineFramer::new()),
    ))
    .await
    .unwrap();
    assert!(client.tendril().tls().is_some());
    let answer = within(client.ready())
        .await
        .unwrap()
        .call(Bytes::from("secure"));
    assert_eq!(within(answer).await.unwrap(), "secure");
}

/// A client that sends its lines and then closes its TCP side without a TLS
/// close_notify (a ragged end, as many clients do) still gets every answer; the close
/// reason says how it ended.
#[tokio::test]
async fn a_ragged_end_without_close_notify_still_gets_every_answer() {
    let cert = certificate();
    let manager = TcpManager::new(localhost());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                tx.send(tendril).unwrap();
                Ok(service_fn(
                    |line: Bytes| async move { Ok::<_, BoxError>(line) },
                ))
            }),
            WrapperChain::new().layer(server_layer(&cert)),
        )
        .unwrap();
    for lines in [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1000, 1000] {
        let tcp = within(TcpStream::connect(addr)).await.unwrap();
        // A second handle on the socket, to end it under the TLS layer.
        let std = tcp.into_std().unwrap();
        let raw = std.try_clone().unwrap();
        let mut tls = tls_upgrade(TcpStream::from_std(std).unwrap(), &cert.0).await;
        let sent: Vec<u8> = (0..lines)
            .flat_map(|i| format!("line {i}\r\n").into_bytes())
            .collect();
        tls.write_all(&sent).await.unwrap();
        tls.flush().await.unwrap();
        raw.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answered = Vec::new();
        // The server's own close_notify ends it; a peer may also just close.
        let _ = within(tls.read_to_end(&mut answered)).await;
        let tendril = within(rx.recv()).await.unwrap();
        let reason = within(tendril.closed()).await;
        assert!(
            reason.as_error().is_some_and(tendril_net::Error::is_io)
                && reason.to_string().contains("close_notify"),
            "{reason}"
        );
        assert_eq!(
            String::from_utf8_lossy(&answered),
            String::from_utf8_lossy(&sent),
            "{lines} lines"
        );
    }
    manager.shutdown();
}

/// A server that speaks first (a greeting, as SMTP over TLS does) is heard by a client
/// that sends nothing: the server's handshake ends without waiting for client data
/// (its timeout is beyond the test's bound, so a handshake left waiting fails it).
#[tokio::test]
async fn a_server_that_speaks_first_is_heard_by_a_silent_client() {
    let cert = certificate();
    let tls = server_layer(&cert).handshake_timeout(Duration::from_secs(600));
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                tendril.try_send_frame(Bytes::from("220 hello"))?;
                Ok(service_fn(
                    |line: Bytes| async move { Ok::<_, BoxError>(line) },
                ))
            }),
            WrapperChain::new().layer(tls),
        )
        .unwrap();
    let mut client = tls_client(addr, &cert.0).await;
    assert_eq!(within(client.next()).await.unwrap().unwrap(), "220 hello");
    manager.shutdown();
}

/// A megabyte each way, pipelined in lines of 1,000 bytes: records span reads and
/// writes span records, and every byte comes back in order.
#[tokio::test]
async fn a_megabyte_each_way_over_tls_comes_back_whole() {
    let cert = certificate();
    let (manager, addr, _) = tls_echo_server(server_layer(&cert));
    let (mut sink, mut stream) = tls_client(addr, &cert.0).await.split();
    let line = |i: usize| Bytes::from(format!("{i:06}{}", "x".repeat(994)));
    let send = async {
        for i in 0..1000 {
            sink.feed(line(i)).await.unwrap();
        }
        sink.flush().await.unwrap();
    };
    let receive = async {
        for i in 0..1000 {
            assert_eq!(stream.next().await.unwrap().unwrap(), line(i), "line {i}");
        }
    };
    within(async { tokio::join!(send, receive) }).await;
    manager.shutdown();
}

/// A ClientHello that announces 16 MiB and keeps coming, record after record, is
/// refused (rustls takes handshake messages up to 64 KiB; the stream holds at most
/// that and one record): that connection closes, the next is served.
#[tokio::test]
async fn a_handshake_message_that_never_ends_is_refused() {
    let cert = certificate();
    let (manager, addr, _) = tls_echo_server(server_layer(&cert));
    let mut attacker = within(TcpStream::connect(addr)).await.unwrap();
    let mut first = vec![
        0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff, 0x03, 0x03,
    ];
    first.resize(5 + 0x4000, 0);
    let mut more = vec![0x16, 0x03, 0x03, 0x40, 0x00];
    more.resize(5 + 0x4000, 0);
    let mut sent = 0;
    let mut closed = false;
    for i in 0..128 {
        let record = if i == 0 { &first } else { &more };
        if within(attacker.write_all(record)).await.is_err() {
            closed = true;
            break;
        }
        sent += record.len();
    }
    closed = closed || closed_by_server(&mut attacker).await;
    assert!(closed, "still open after {sent} bytes");
    eventually(|| manager.stats().wrap_failed == 1).await;
    let mut good = tls_client(addr, &cert.0).await;
    good.send(Bytes::from("fine")).await.unwrap();
    assert_eq!(within(good.next()).await.unwrap().unwrap(), "fine");
    manager.shutdown();
}
