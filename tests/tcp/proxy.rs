//! The PROXY protocol wrapper over real sockets: the header's addresses become the
//! connection's, TLVs reach the Tendril, bytes after the header reach the framer, and
//! streams without a valid header are refused.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::{acceptor_fn, service};
use tendril_net::framer::LineFramer;
use tendril_net::wrap::{ProxyCommand, ProxyProtocolLayer, WrapperChain};
use tendril_net::{Manager, TcpManager};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::support::*;

/// What the acceptor saw of each connection.
#[derive(Debug)]
struct Seen {
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    version: Option<u8>,
    command: Option<ProxyCommand>,
    authority: Option<String>,
}

fn server(layer: ProxyProtocolLayer) -> (TcpManager, SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(move |tendril| {
                let header = tendril.proxy();
                tx.send(Seen {
                    remote: tendril.remote().as_inet(),
                    local: tendril.local().as_inet(),
                    version: header.map(|h| h.version()),
                    command: header.map(|h| h.command()),
                    authority: header.and_then(|h| h.authority()).map(str::to_owned),
                })
                .unwrap();
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service(|line: Bytes| async move { Ok(line) }))
            }),
            WrapperChain::new().layer(layer),
        )
        .unwrap();
    (manager, addr, rx)
}

fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.push(0x20 | command);
    out.push(family);
    out.extend((body.len() as u16).to_be_bytes());
    out.extend(body);
    out
}

#[tokio::test]
async fn a_v1_header_gives_the_clients_addresses_and_the_rest_is_framed() {
    let (manager, addr, mut seen) = server(ProxyProtocolLayer::new());
    // The header and the first lines in one write.
    let mut stream = client(
        addr,
        b"PROXY TCP4 192.0.2.1 198.51.100.2 4000 443\r\nfirst\r\nsecond\r\n",
    )
    .await;
    assert_eq!(
        read_frames(&mut stream, "line", 2).await,
        ["first", "second"]
    );
    let seen = within(seen.recv()).await.unwrap();
    assert_eq!(seen.remote, Some("192.0.2.1:4000".parse().unwrap()));
    assert_eq!(seen.local, Some("198.51.100.2:443".parse().unwrap()));
    assert_eq!(seen.version, Some(1));
    // Found under the client's address.
    let client: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let server: SocketAddr = "198.51.100.2:443".parse().unwrap();
    assert!(manager.tendril::<Bytes, Bytes>(server, client).is_some());
    manager.shutdown();
}

#[tokio::test]
async fn a_v2_header_arriving_in_pieces_with_tlvs() {
    let (manager, addr, mut seen) = server(ProxyProtocolLayer::new());
    let mut body = vec![
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 2001:db8::1
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // 2001:db8::2
        0x13, 0x88, 0x01, 0xbb, // 5000, 443
    ];
    body.extend([0x02, 0, 11]);
    body.extend(b"example.net");
    let mut bytes = v2(1, 0x21, &body);
    bytes.extend(b"after\r\n");
    let mut stream = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    for piece in bytes.chunks(7) {
        within(stream.write_all(piece)).await.unwrap();
        within(stream.flush()).await.unwrap();
    }
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["after"]);
    let seen = within(seen.recv()).await.unwrap();
    assert_eq!(seen.remote, Some("[2001:db8::1]:5000".parse().unwrap()));
    assert_eq!(seen.local, Some("[2001:db8::2]:443".parse().unwrap()));
    assert_eq!(seen.version, Some(2));
    assert_eq!(seen.authority.as_deref(), Some("example.net"));
    manager.shutdown();
}

#[tokio::test]
async fn a_local_header_keeps_the_sockets_addresses() {
    let (manager, addr, mut seen) = server(ProxyProtocolLayer::new());
    let mut bytes = v2(0, 0x00, &[]);
    bytes.extend(b"check\r\n");
    let mut stream = client(addr, &bytes).await;
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["check"]);
    let seen = within(seen.recv()).await.unwrap();
    assert_eq!(seen.command, Some(ProxyCommand::Local));
    assert_eq!(seen.remote, Some(stream.local_addr().unwrap()));
    manager.shutdown();
}

#[tokio::test]
async fn streams_without_a_valid_header_are_refused_and_counted() {
    let (manager, addr, mut seen) = server(ProxyProtocolLayer::new());
    for bytes in [
        &b"hello\r\n"[..],
        b"PROXY TCP4 not-an-address 198.51.100.2 4000 443\r\n",
        &v2(1, 0x11, &[1, 2, 3])[..], // shorter than IPv4 addresses
    ] {
        let mut stream = client(addr, bytes).await;
        assert_eq!(
            read_until_closed(&mut stream).await,
            b"",
            "no echo for {bytes:?}"
        );
    }
    // A header longer than the bound (4 KiB): refused once the bound is reached.
    let mut long = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff".to_vec();
    long.extend(vec![0u8; 8192]);
    let mut stream = client(addr, &long).await;
    assert_eq!(read_until_closed(&mut stream).await, b"");
    eventually(|| manager.stats().wrap_failed == 4).await;
    assert!(seen.try_recv().is_err(), "the acceptor saw none of them");
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn a_silent_stream_is_refused_after_the_timeout() {
    let (manager, addr, _seen) =
        server(ProxyProtocolLayer::new().header_timeout(Duration::from_secs(3)));
    let started = tokio::time::Instant::now();
    let mut stream = client(addr, b"").await;
    assert_eq!(read_until_closed(&mut stream).await, b"");
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(manager.stats().wrap_failed, 1);
    manager.shutdown();
}

#[tokio::test]
async fn an_optional_header_lets_direct_clients_through() {
    let (manager, addr, mut seen) = server(ProxyProtocolLayer::new().optional(true));
    let mut direct = client(addr, b"direct\r\n").await;
    assert_eq!(read_frames(&mut direct, "line", 1).await, ["direct"]);
    let first = within(seen.recv()).await.unwrap();
    assert_eq!(first.version, None);
    assert_eq!(first.remote, Some(direct.local_addr().unwrap()));
    let mut proxied = client(
        addr,
        b"PROXY TCP4 192.0.2.9 198.51.100.2 4000 443\r\nvia\r\n",
    )
    .await;
    assert_eq!(read_frames(&mut proxied, "line", 1).await, ["via"]);
    let second = within(seen.recv()).await.unwrap();
    assert_eq!(second.remote, Some("192.0.2.9:4000".parse().unwrap()));
    manager.shutdown();
}

fn trusted(network: &str) -> ProxyProtocolLayer {
    ProxyProtocolLayer::new().trusted([network.parse().unwrap()])
}

/// A client bound to source address `from` that writes `bytes` in one call.
async fn client_from(from: &str, addr: SocketAddr, bytes: &[u8]) -> tokio::net::TcpStream {
    let mut stream = super::sources::connect_from(from, addr).await;
    within(stream.write_all(bytes)).await.unwrap();
    stream
}

#[tokio::test]
async fn only_trusted_balancers_may_send_a_header() {
    let (manager, addr, mut seen) = server(trusted("127.0.0.2/32"));
    let header = b"PROXY TCP4 6.6.6.6 198.51.100.2 1111 443\r\nhi\r\n";
    let mut balancer = client_from("127.0.0.2", addr, header).await;
    assert_eq!(read_frames(&mut balancer, "line", 1).await, ["hi"]);
    let honoured = within(seen.recv()).await.unwrap();
    assert_eq!(honoured.remote, Some("6.6.6.6:1111".parse().unwrap()));
    // The same header from 127.0.0.1: refused at once, never believed.
    let mut forged = client_from("127.0.0.1", addr, header).await;
    assert_eq!(read_until_closed(&mut forged).await, b"");
    eventually(|| manager.stats().wrap_failed == 1).await;
    assert!(seen.try_recv().is_err(), "the acceptor never saw it");
    manager.shutdown();
}

#[tokio::test]
async fn an_optional_header_from_elsewhere_is_read_and_ignored() {
    let (manager, addr, mut seen) = server(trusted("127.0.0.2/32").optional(true));
    let mut forged = client_from(
        "127.0.0.1",
        addr,
        b"PROXY TCP4 6.6.6.6 198.51.100.2 1111 443\r\nhi\r\n",
    )
    .await;
    // Served with its socket's address; the header never reaches the application.
    assert_eq!(read_frames(&mut forged, "line", 1).await, ["hi"]);
    let seen_forged = within(seen.recv()).await.unwrap();
    assert_eq!(seen_forged.remote, Some(forged.local_addr().unwrap()));
    assert_eq!(seen_forged.version, None);
    assert_eq!(manager.stats().proxy_ignored, 1);
    manager.shutdown();
}

/// Behind the PROXY protocol, per-source limits count the clients the headers name.
#[tokio::test]
async fn per_source_limits_count_the_headers_address() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let manager = TcpManager::builder(localhost())
        .max_per_source(Some(1))
        .build();
    let addr = manager
        .start(
            acceptor_fn(move |tendril| {
                tx.send(tendril.remote().as_inet()).unwrap();
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service(|line: Bytes| async move { Ok(line) }))
            }),
            WrapperChain::new().layer(ProxyProtocolLayer::new()),
        )
        .unwrap();
    let header = |client: &str| format!("PROXY TCP4 {client} 198.51.100.2 1000 443\r\nhi\r\n");
    // Two clients behind one balancer address: both served.
    let mut one = client(addr, header("192.0.2.1").as_bytes()).await;
    let mut two = client(addr, header("192.0.2.2").as_bytes()).await;
    for stream in [&mut one, &mut two] {
        assert_eq!(read_frames(stream, "line", 1).await, ["hi"]);
    }
    // The first client's second connection: refused.
    let mut again = client(addr, header("192.0.2.1").as_bytes()).await;
    assert_eq!(read_until_closed(&mut again).await, b"");
    assert_eq!(manager.stats().refused_source, 1);
    for _ in 0..2 {
        within(seen.recv()).await.unwrap();
    }
    assert!(seen.try_recv().is_err(), "the acceptor saw two");
    manager.shutdown();
}

/// Header waits are handshakes: with every slot taken, the silent one waiting longest
/// is shed for a newcomer.
#[tokio::test]
async fn silent_header_waits_are_shed_for_newcomers() {
    let (manager, addr, mut seen) = server(
        ProxyProtocolLayer::new()
            .max_pending(2)
            .header_timeout(Duration::from_secs(600)),
    );
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(client(addr, b"").await);
        eventually(|| manager.stats().wrapping == silent.len() as u64).await;
    }
    let mut proxied = client(
        addr,
        b"PROXY TCP4 192.0.2.7 198.51.100.2 4000 443\r\nserved\r\n",
    )
    .await;
    assert_eq!(read_frames(&mut proxied, "line", 1).await, ["served"]);
    assert_eq!(
        read_until_closed(&mut silent[0]).await,
        b"",
        "the oldest went"
    );
    let stats = manager.stats();
    assert_eq!((stats.shed_handshakes, stats.wrapping), (1, 1), "{stats}");
    assert!(within(seen.recv()).await.unwrap().remote.is_some());
    manager.shutdown();
}

/// Headers that can never be accepted are refused as soon as that is known, not after
/// the header timeout (paused time would run a timeout out at once: real time here,
/// with a timeout far beyond the test's bound).
#[tokio::test]
async fn impossible_headers_are_refused_at_once() {
    let (manager, addr, _seen) =
        server(ProxyProtocolLayer::new().header_timeout(Duration::from_secs(3600)));
    let mut announced = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff".to_vec();
    announced.extend([0u8; 16]);
    for bytes in [&announced[..], b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"] {
        let mut stream = client(addr, bytes).await;
        assert_eq!(read_until_closed(&mut stream).await, b"");
    }
    assert_eq!(manager.stats().wrap_failed, 2);
    manager.shutdown();
}
