//! QUIC streams as Tendrils, over loopback: a server echoing lines on every stream,
//! clients on one stream each and on many, the close mapping.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::{acceptor_fn, service};
use tendril_net::client::Client;
use tendril_net::framer::{FramerSwitch, LineFramer};
use tendril_net::wrap::{box_io, tls_client_config, tls_server_config, NoWrapper};
use tendril_net::{Addr, BoxError, Manager, Tendril};
use tendril_quic::{ErrorCode, Quic, QuicManager, QuicTarget};
use tower::{Service, ServiceExt};

const LIMIT: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("not within the limit")
}

fn framers() -> FramerSwitch {
    FramerSwitch::symmetric(LineFramer::new())
}

/// A certificate for `localhost`: the server's TLS (ALPN `echo`) and a client's
/// trusting it.
fn tls() -> (rustls::ServerConfig, rustls::ClientConfig) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let mut server = tls_server_config(
        made.cert.pem().as_bytes(),
        made.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    server.alpn_protocols = vec![b"echo".to_vec()];
    let mut client = tls_client_config(made.cert.pem().as_bytes()).unwrap();
    client.alpn_protocols = vec![b"echo".to_vec()];
    (server, client)
}

/// A server answering each line with itself; `close 7` closes the stream with
/// error code 7, `info` answers with what the stream's Tendril knows, `push` opens a
/// stream of the server's own on the same connection and sends `pushed` on it.
fn echo_server(server_tls: rustls::ServerConfig) -> (QuicManager, SocketAddr) {
    let options = Quic::new("127.0.0.1:0".parse().unwrap())
        .server_tls(server_tls)
        .unwrap();
    let manager = QuicManager::new(options);
    let pusher = manager.clone();
    let acceptor = acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
        let stream = tendril.clone();
        let pusher = pusher.clone();
        Ok(service(move |line: Bytes| {
            let stream = stream.clone();
            let pusher = pusher.clone();
            async move {
                if line == "push" {
                    let Addr::Stream(name) = stream.remote() else {
                        return Ok(None);
                    };
                    let connection = pusher.connection(name.connection).ok_or("gone")?;
                    let push = acceptor_fn(|pushed: Tendril| -> Result<_, BoxError> {
                        pushed.try_send_frame(Bytes::from("pushed"))?;
                        pushed.close();
                        Ok(service(|_: Bytes| async { Ok(None::<Bytes>) }))
                    });
                    pusher.open_stream(&connection, push, framers()).await?;
                    return Ok(Some(Bytes::from("ok")));
                }
                if line == "close 7" {
                    stream.close_with(ErrorCode(7));
                    return Ok(None);
                }
                if line == "info" {
                    let tls = stream.tls().cloned().unwrap_or_default();
                    let alpn = tls.alpn_protocol.unwrap_or_default();
                    let kind = match stream.remote() {
                        Addr::Stream(_) => "stream",
                        _ => "other",
                    };
                    let name = tls.server_name.unwrap_or_default();
                    let alpn = String::from_utf8_lossy(&alpn).into_owned();
                    return Ok(Some(Bytes::from(format!("{kind} {alpn} {name}"))));
                }
                Ok(Some(line))
            }
        }))
    });
    let addr = manager.start_with_framers(acceptor, framers).unwrap();
    (manager, addr)
}

fn client_manager(client_tls: rustls::ClientConfig) -> QuicManager {
    QuicManager::new(
        Quic::new("127.0.0.1:0".parse().unwrap())
            .handshake_timeout(Duration::from_secs(2))
            .client_tls(client_tls)
            .unwrap(),
    )
}

#[tokio::test]
async fn a_stream_is_a_connection_with_its_own_framers_and_application() {
    let (server_tls, client_tls) = tls();
    let (server, addr) = echo_server(server_tls);
    let clients = client_manager(client_tls);
    let mut client = Client::<Bytes>::pipelined()
        .max_in_flight(16)
        .connect(
            &clients,
            QuicTarget::new(addr, "localhost"),
            NoWrapper,
            framers(),
        )
        .await
        .unwrap();
    for i in 0..100 {
        let line = Bytes::from(format!("line {i}"));
        let answer = within(client.ready().await.unwrap().call(line.clone())).await;
        assert_eq!(answer.unwrap(), line);
    }
    let info = client
        .ready()
        .await
        .unwrap()
        .call("info".into())
        .await
        .unwrap();
    assert_eq!(info, "stream echo localhost");
    assert_eq!(server.tendrils::<Bytes, Bytes>().len(), 1);
    let stats = server.quic_stats();
    assert_eq!(
        (stats.connections, stats.accepted, stats.streams),
        (1, 1, 1)
    );
}

/// An echo server, a client manager, and one QUIC connection from it to the server.
async fn connected() -> (QuicManager, QuicManager, quinn::Connection) {
    let (server_tls, client_tls) = tls();
    let (server, addr) = echo_server(server_tls);
    let clients = client_manager(client_tls);
    let connection = clients
        .connect_connection(&QuicTarget::new(addr, "localhost"))
        .await
        .unwrap();
    (server, clients, connection)
}

/// Sends `line` on `client`'s stream and checks it comes back.
async fn echoes(client: &mut Client<Bytes>, line: &'static str) {
    let answer = client.ready().await.unwrap().call(line.into()).await;
    assert_eq!(answer.unwrap(), line);
}

/// `n` clients on streams of `connection`, each of which echoed a line (a stream
/// exists for the peer once something is sent on it).
async fn open_streams(connection: &quinn::Connection, n: usize) -> Vec<Client<Bytes>> {
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut client = stream_client(connection).await;
        echoes(&mut client, "hi").await;
        streams.push(client);
    }
    streams
}

/// A client over a raw stream of `connection` (not tracked on this side).
async fn stream_client(connection: &quinn::Connection) -> Client<Bytes> {
    let (send, recv) = connection.open_bi().await.unwrap();
    Client::<Bytes>::pipelined()
        .over(box_io(tokio::io::join(recv, send)), framers())
        .await
        .unwrap()
}

/// 1,000 streams over 10 connections, all at once, each echoed exactly and finished.
#[tokio::test]
async fn a_thousand_streams_over_ten_connections_echo_exactly() {
    let (server_tls, client_tls) = tls();
    let (server, addr) = echo_server(server_tls);
    let clients = client_manager(client_tls);
    let target = QuicTarget::new(addr, "localhost");
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..10 {
        let connection = clients.connect_connection(&target).await.unwrap();
        for s in 0..100 {
            let connection = connection.clone();
            tasks.spawn(async move {
                let mut client = stream_client(&connection).await;
                for i in 0..5 {
                    let line = Bytes::from(format!("{c}/{s}/{i}"));
                    let answer = client.ready().await.unwrap().call(line.clone()).await;
                    assert_eq!(answer.unwrap(), line);
                }
            });
        }
    }
    let mut done = 0;
    while let Some(result) = within(tasks.join_next()).await {
        result.unwrap();
        done += 1;
    }
    assert_eq!(done, 1000);
    assert_eq!(server.quic_stats().streams, 1000);
    // Each client's end finished its stream; the server's Tendrils close after it.
    within(async {
        while !server.tendrils::<Bytes, Bytes>().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Streams past the connection's limit wait for QUIC's stream credit, none is
/// dropped: the 101st opens once streams end (quinn announces new credit once an
/// eighth of the limit, here 13 streams, has come back).
#[tokio::test]
async fn streams_past_the_limit_wait_for_credit() {
    let (server, _clients, connection) = connected().await;
    let mut open = open_streams(&connection, 100).await;
    let extra = connection.open_bi();
    tokio::pin!(extra);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut extra)
            .await
            .is_err(),
        "the 101st stream waits for credit"
    );
    for client in open.drain(..13) {
        client.tendril().close();
        within(client.tendril().closed()).await;
    }
    let (mut send, mut recv) = within(&mut extra).await.unwrap();
    send.write_all(b"late\r\n").await.unwrap();
    send.finish().unwrap();
    assert_eq!(within(recv.read_to_end(64)).await.unwrap(), b"late\r\n");
    // The 87 streams still open are still served.
    for client in &mut open {
        echoes(client, "again").await;
    }
    assert_eq!(server.tendrils::<Bytes, Bytes>().len(), 87);
}

/// `close_with(ErrorCode(7))` resets the stream: the peer reads the code.
#[tokio::test]
async fn close_with_a_code_resets_the_stream() {
    let (_server, _clients, connection) = connected().await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(b"close 7\r\n").await.unwrap();
    let err = within(recv.read_to_end(1024)).await.unwrap_err();
    assert!(err.to_string().contains("error 7"), "{err}");
    // And a stream whose peer finishes it gets its replies, then a FIN.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(b"a\r\nb\r\n").await.unwrap();
    send.finish().unwrap();
    let all = within(recv.read_to_end(1024)).await.unwrap();
    assert_eq!(all, b"a\r\nb\r\n");
}

/// A server's application opens a stream of its own on its connection (a push): a
/// Tendril like any other.
#[tokio::test]
async fn the_server_opens_a_stream_on_its_connection() {
    let (server, _clients, connection) = connected().await;
    let mut client = stream_client(&connection).await;
    let answer = client.ready().await.unwrap().call("push".into()).await;
    assert_eq!(answer.unwrap(), "ok");
    let (_send, mut recv) = within(connection.accept_bi()).await.unwrap();
    assert_eq!(within(recv.read_to_end(64)).await.unwrap(), b"pushed\r\n");
    assert_eq!(server.quic_stats().streams, 2);
}

/// A connection the peer closes closes every stream of it, with that reason.
#[tokio::test]
async fn a_closed_connection_closes_all_its_streams_with_its_reason() {
    let (server, _clients, connection) = connected().await;
    let _streams = open_streams(&connection, 3).await;
    let tendrils = server.tendrils::<Bytes, Bytes>();
    assert_eq!(tendrils.len(), 3);
    connection.close(quinn::VarInt::from_u32(5), b"bye");
    for tendril in tendrils {
        let reason = within(tendril.closed()).await;
        let text = format!("{reason}");
        assert!(
            text.contains("closed by peer") && text.contains("bye"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn graceful_shutdown_lets_streams_finish_then_closes_connections() {
    let (server, clients, connection) = connected().await;
    let addr = server.local().and_then(Addr::as_inet).unwrap();
    let mut client = stream_client(&connection).await;
    echoes(&mut client, "x").await;
    assert!(within(server.graceful_shutdown(Duration::from_secs(5))).await);
    let reason = within(connection.closed()).await;
    assert!(reason.to_string().contains("closed by peer"), "{reason}");
    // No new connection: the attempt is not answered, and times out.
    let refused = clients
        .connect_connection(&QuicTarget::new(addr, "localhost"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().starts_with("cannot connect to quic"),
        "{refused:#}"
    );
}

/// Unidirectional streams and datagrams, when enabled: a receive-only Tendril per
/// unidirectional stream, one datagram Tendril per connection, through one acceptor.
#[tokio::test]
async fn unidirectional_streams_and_datagrams_when_enabled() {
    let (server_tls, client_tls) = tls();
    let options = Quic::new("127.0.0.1:0".parse().unwrap())
        .uni_streams(4)
        .datagrams(true)
        .server_tls(server_tls)
        .unwrap();
    let server = QuicManager::new(options);
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let acceptor = acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
        let lines = lines_tx.clone();
        let receive_only = tendril_quic::is_receive_only(tendril.remote());
        let datagrams = matches!(
            tendril.remote(),
            Addr::Stream(name) if name.stream == tendril_quic::DATAGRAMS
        );
        Ok(service(move |line: Bytes| {
            let lines = lines.clone();
            async move {
                if receive_only {
                    let _ = lines.send(line);
                    return Ok(None);
                }
                assert!(datagrams, "no bidirectional stream in this test");
                Ok(Some(line))
            }
        }))
    });
    let addr = server.start_with_framers(acceptor, framers).unwrap();
    let clients = QuicManager::new(
        Quic::new("127.0.0.1:0".parse().unwrap())
            .datagrams(true)
            .client_tls(client_tls)
            .unwrap(),
    );
    let connection = clients
        .connect_connection(&QuicTarget::new(addr, "localhost"))
        .await
        .unwrap();
    let mut send = connection.open_uni().await.unwrap();
    send.write_all(b"one\r\ntwo\r\n").await.unwrap();
    send.finish().unwrap();
    assert_eq!(within(lines.recv()).await.unwrap(), "one");
    assert_eq!(within(lines.recv()).await.unwrap(), "two");
    connection.send_datagram(Bytes::from("ping\r\n")).unwrap();
    let echoed = within(connection.read_datagram()).await.unwrap();
    assert_eq!(echoed, "ping\r\n");
}

/// A peer's reset closes the stream's Tendril with a reason carrying its code.
#[tokio::test]
async fn a_peer_reset_closes_the_tendril_with_its_code() {
    let (server, _clients, connection) = connected().await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(b"hi\r\n").await.unwrap();
    let mut echo = [0u8; 4];
    within(recv.read_exact(&mut echo)).await.unwrap();
    let tendril = server.tendrils::<Bytes, Bytes>().pop().unwrap();
    send.reset(quinn::VarInt::from_u32(9)).unwrap();
    let reason = within(tendril.closed()).await;
    assert!(format!("{reason}").contains("error 9"), "{reason}");
}

/// Registered by name, a QUIC manager is made and found through the registry like a
/// built-in transport's.
#[tokio::test]
async fn registered_as_quic_in_the_registry() {
    let registry = tendril_net::Registry::new();
    tendril_quic::register(&registry, |addr| {
        let (server_tls, _) = tls();
        Quic::new(addr).server_tls(server_tls)
    });
    let endpoint = Addr::Inet("127.0.0.1:0".parse().unwrap());
    let manager: QuicManager = registry.get("quic", endpoint).unwrap();
    assert_eq!(manager.transport(), "quic");
    let _ = manager
        .start_with_framers(
            acceptor_fn(|_: Tendril| {
                Ok::<_, BoxError>(service(|_: Bytes| async { Ok(None::<Bytes>) }))
            }),
            framers,
        )
        .unwrap();
    assert!(manager.running());
}

/// The endpoint's own bounds: with `retry_above(0)` every new source proves its
/// address first (a Retry, which quinn's client follows); with `max_connections(1)` a
/// second connection is refused.
#[tokio::test]
async fn retry_for_every_source_and_a_connection_limit() {
    let (server_tls, client_tls) = tls();
    let options = Quic::new("127.0.0.1:0".parse().unwrap())
        .retry_above(0)
        .max_connections(1)
        .max_handshakes(8)
        .max_streams(5)
        .idle_timeout(Duration::from_secs(10))
        .server_tls(server_tls)
        .unwrap();
    let server = QuicManager::new(options);
    let addr = server
        .start_with_framers(
            acceptor_fn(|_: Tendril| {
                Ok::<_, BoxError>(service(|line: Bytes| async move { Ok(Some(line)) }))
            }),
            framers,
        )
        .unwrap();
    let clients = client_manager(client_tls);
    let target = QuicTarget::new(addr, "localhost");
    let connection = clients.connect_connection(&target).await.unwrap();
    let mut client = stream_client(&connection).await;
    echoes(&mut client, "validated").await;
    assert_eq!(server.quic_stats().retried, 1);
    let second = clients.connect_connection(&target).await;
    assert!(second.is_err(), "a second connection is refused");
    assert_eq!(server.quic_stats().refused, 1);
}

/// The stream-per-request client: a response past `max_response` fails the call, and
/// one that does not come within `timeout` fails it as a timeout.
#[tokio::test]
async fn stream_per_request_bounds_its_responses() {
    let (server_tls, client_tls) = tls();
    let options = Quic::new("127.0.0.1:0".parse().unwrap())
        .server_tls(server_tls)
        .unwrap();
    let server = QuicManager::new(options);
    let addr = server
        .start_with_framers(
            acceptor_fn(|_: Tendril| {
                Ok::<_, BoxError>(service(|line: Bytes| async move {
                    if line == "big" {
                        return Ok(Some(Bytes::from(vec![b'x'; 4096])));
                    }
                    std::future::pending::<()>().await;
                    Ok(None)
                }))
            }),
            || FramerSwitch::symmetric(LineFramer::new().max_frame_length(8192)),
        )
        .unwrap();
    let clients = client_manager(client_tls);
    let connection = clients
        .connect_connection(&QuicTarget::new(addr, "localhost"))
        .await
        .unwrap();
    let mut streams = tendril_quic::StreamPerRequest::new(connection, || {
        FramerSwitch::symmetric(LineFramer::new().max_frame_length(8192))
    })
    .max_response(1024)
    .timeout(Some(Duration::from_millis(200)));
    assert_eq!(tendril_quic::DEFAULT_MAX_RESPONSE, 65_537);
    let big = streams.ready().await.unwrap().call("big".into()).await;
    assert!(big.unwrap_err().is_limit());
    let silent = streams.ready().await.unwrap().call("silent".into()).await;
    let err = silent.unwrap_err();
    assert!(err.is_timeout(), "{err:#}");
    assert!(err
        .cause::<tendril_net::client::ResponseTimeout>()
        .is_some());
}
