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
