//! UDP with per-peer connection tracking, over loopback sockets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, CloseReason, Connect, Manager, Tendril, UdpManager};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tower::service_fn;

#[path = "../support/net.rs"]
mod net;
use net::*;

mod pressure;

async fn socket() -> UdpSocket {
    UdpSocket::bind(localhost()).await.unwrap()
}

async fn recv(socket: &UdpSocket) -> Bytes {
    let mut buf = vec![0u8; 65_536];
    let (len, _) = within(socket.recv_from(&mut buf)).await.unwrap();
    Bytes::copy_from_slice(&buf[..len])
}

/// A server whose application counts the frames of its own peer and answers
/// `<count>:<frame>`; each peer's Tendril goes to the returned channel.
fn counting_server(manager: &UdpManager) -> (SocketAddr, mpsc::UnboundedReceiver<Tendril>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                let _ = tx.send(tendril);
                let mut count = 0u32;
                Ok(service_fn(move |frame: Bytes| {
                    count += 1;
                    let reply = Bytes::from(format!("{count}:{}", String::from_utf8_lossy(&frame)));
                    async move { Ok::<_, BoxError>(reply) }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (addr, rx)
}

#[tokio::test]
async fn per_peer_state_across_many_peers() {
    let manager = UdpManager::new(localhost());
    let (addr, _peers) = counting_server(&manager);
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(socket().await);
    }
    for round in 1..=3 {
        for client in &clients {
            client.send_to(b"x", addr).await.unwrap();
        }
        for client in &clients {
            assert_eq!(recv(client).await, format!("{round}:x"));
        }
    }
    let stats = manager.stats();
    assert_eq!(stats.open, 50);
    assert_eq!(stats.total, 50);
    assert_eq!(manager.udp_stats().datagrams_in, 150);
    manager.shutdown();
}

#[tokio::test]
async fn two_peers_interleaved_keep_their_own_state() {
    let manager = UdpManager::new(localhost());
    let (addr, _peers) = counting_server(&manager);
    let (a, b) = (socket().await, socket().await);
    for (client, text, expected) in [
        (&a, "a", "1:a"),
        (&b, "b", "1:b"),
        (&a, "a", "2:a"),
        (&a, "a", "3:a"),
        (&b, "b", "2:b"),
    ] {
        client.send_to(text.as_bytes(), addr).await.unwrap();
        assert_eq!(recv(client).await, expected);
    }
    let server_side: Tendril = manager
        .tendril(addr, a.local_addr().unwrap())
        .expect("tracked by source address");
    assert_eq!(server_side.transport(), "udp");
    manager.shutdown();
}

#[tokio::test]
async fn a_datagram_may_hold_several_frames_each_reply_is_a_datagram() {
    let manager = UdpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::lf(), LineFramer::lf())?;
                Ok(service_fn(
                    |line: Bytes| async move { Ok::<_, BoxError>(line) },
                ))
            }),
            NoWrapper,
        )
        .unwrap();
    let client = socket().await;
    client.send_to(b"one\ntwo\n", addr).await.unwrap();
    assert_eq!(recv(&client).await, "one\n");
    assert_eq!(recv(&client).await, "two\n");
    manager.shutdown();
}

#[tokio::test]
async fn a_full_peer_queue_drops_and_counts_without_stalling_others() {
    let manager = UdpManager::builder(localhost()).inbound_queue(2).build();
    let gate = Arc::new(tokio::sync::Notify::new());
    let app_gate = gate.clone();
    let addr = manager
        .start(
            acceptor_fn(move |_: Tendril| -> Result<_, BoxError> {
                let gate = app_gate.clone();
                Ok(service_fn(move |frame: Bytes| {
                    let gate = gate.clone();
                    async move {
                        if frame == "block" {
                            gate.notified().await;
                        }
                        Ok::<_, BoxError>(frame)
                    }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let (slow, fast) = (socket().await, socket().await);
    slow.send_to(b"block", addr).await.unwrap();
    for _ in 0..100 {
        slow.send_to(b"flood", addr).await.unwrap();
    }
    eventually(|| manager.udp_stats().dropped_queue_full > 0).await;
    // The blocked peer does not stall the receive loop or other peers.
    fast.send_to(b"hello", addr).await.unwrap();
    assert_eq!(recv(&fast).await, "hello");
    gate.notify_one();
    assert_eq!(recv(&slow).await, "block");
    manager.shutdown();
}

#[tokio::test]
async fn the_peer_table_is_bounded_under_a_flood_of_new_ports() {
    let manager = UdpManager::builder(localhost()).max_connections(8).build();
    let (addr, _peers) = counting_server(&manager);
    let established = socket().await;
    established.send_to(b"first", addr).await.unwrap();
    assert_eq!(recv(&established).await, "1:first");
    // 2,000 new source ports, one socket at a time (bounded descriptors), pausing now
    // and then so the kernel's receive buffer does not overflow.
    for i in 0..2000 {
        let newcomer = socket().await;
        newcomer.send_to(b"hi", addr).await.unwrap();
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // Established peers are never shed to make room; the reply also shows that
    // every datagram sent before it was routed.
    established.send_to(b"again", addr).await.unwrap();
    assert_eq!(recv(&established).await, "2:again");
    let (stats, udp) = (manager.stats(), manager.udp_stats());
    assert_eq!(stats.open, 8, "{stats}");
    // Every newcomer that arrived was tracked (up to the bound) or dropped and counted
    // (a newcomer reusing a tracked peer's port is that peer, hence at most).
    assert!(
        stats.total - 1 + udp.dropped_table_full <= udp.datagrams_in - 2,
        "{stats} {udp}"
    );
    assert!(udp.dropped_table_full > 1000, "{udp}");
    manager.shutdown();
}

/// A source address may have at most `max_per_source` peers tracked: fresh ports from
/// it beyond that are not tracked (no reply, counted), other addresses are served,
/// and its established peers are still answered.
#[tokio::test]
async fn a_source_address_holds_at_most_its_limit_of_peers() {
    let manager = UdpManager::builder(localhost())
        .max_per_source(Some(3))
        .build();
    let (addr, _peers) = counting_server(&manager);
    let from = |ip: &'static str| async move { UdpSocket::bind(format!("{ip}:0")).await.unwrap() };
    let mut established = Vec::new();
    for _ in 0..3 {
        let client = from("127.0.0.2").await;
        client.send_to(b"hi", addr).await.unwrap();
        assert_eq!(recv(&client).await, "1:hi");
        established.push(client);
    }
    let mut refused = Vec::new();
    for _ in 0..20 {
        let client = from("127.0.0.2").await;
        client.send_to(b"hi", addr).await.unwrap();
        refused.push(client);
    }
    let other = from("127.0.0.3").await;
    other.send_to(b"other", addr).await.unwrap();
    assert_eq!(recv(&other).await, "1:other");
    // The reply to the other source shows every earlier datagram was routed.
    assert_eq!(
        manager.udp_stats().dropped_source,
        20,
        "{}",
        manager.udp_stats()
    );
    for client in &established {
        client.send_to(b"again", addr).await.unwrap();
        assert_eq!(recv(client).await, "2:again");
    }
    let stats = manager.stats();
    assert_eq!((stats.open, stats.refused_source), (4, 20), "{stats}");
    for client in &refused {
        let mut buf = [0u8; 16];
        assert!(
            client.try_recv(&mut buf).is_err(),
            "no reply to an untracked peer"
        );
    }
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn idle_peers_are_closed_and_told() {
    let manager = UdpManager::builder(localhost())
        .idle_timeout(Some(Duration::from_secs(5)))
        .build();
    let (addr, mut peers) = counting_server(&manager);
    let client = socket().await;
    client.send_to(b"x", addr).await.unwrap();
    let peer = within(peers.recv()).await.unwrap();
    let reason = within(peer.closed()).await;
    assert!(matches!(reason, CloseReason::Idle), "{reason}");
    eventually(|| manager.stats().closed_idle == 1 && manager.stats().open == 0).await;
    manager.shutdown();
}

type NeverCalled = tower::util::ServiceFn<fn(Bytes) -> std::future::Ready<Result<(), BoxError>>>;

#[tokio::test]
async fn rejected_peers_are_remembered() {
    let manager = UdpManager::new(localhost());
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    let addr = manager
        .start(
            acceptor_fn(move |_: Tendril| -> Result<NeverCalled, BoxError> {
                *counted.lock().unwrap() += 1;
                Err(tendril_net::app::RejectConnection::new().into())
            }),
            NoWrapper,
        )
        .unwrap();
    let client = socket().await;
    client.send_to(b"1", addr).await.unwrap();
    eventually(|| manager.stats().rejected == 1).await;
    // The receive loop learns of the rejection shortly after: probe until a datagram
    // is dropped for it (each probe before that may ask the acceptor again).
    within(async {
        while manager.udp_stats().dropped_table_full == 0 {
            client.send_to(b"probe", addr).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let asked = *calls.lock().unwrap();
    let received = manager.udp_stats().datagrams_in;
    for _ in 0..20 {
        client.send_to(b"again", addr).await.unwrap();
    }
    eventually(|| manager.udp_stats().datagrams_in == received + 20).await;
    assert_eq!(
        *calls.lock().unwrap(),
        asked,
        "the acceptor is not asked again"
    );
    manager.shutdown();
}

/// A client manager's `connect` tracks the target, so its replies reach the
/// application that sent the request: the DNS argument of the original Tendril.
#[tokio::test]
async fn connect_routes_replies_to_the_right_application() {
    let servers = [UdpManager::new(localhost()), UdpManager::new(localhost())];
    let addrs: Vec<SocketAddr> = servers
        .iter()
        .map(|server| counting_server(server).0)
        .collect();
    let client = UdpManager::new(localhost());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tendrils = HashMap::new();
    for (index, &addr) in addrs.iter().enumerate() {
        let tx = tx.clone();
        let tendril = client
            .connect(
                addr,
                acceptor_fn(move |_: Tendril| -> Result<_, BoxError> {
                    let tx = tx.clone();
                    Ok(service_fn(move |reply: Bytes| {
                        tx.send((index, reply)).unwrap();
                        async { Ok::<_, BoxError>(()) }
                    }))
                }),
                NoWrapper,
            )
            .await
            .unwrap();
        tendrils.insert(index, tendril);
    }
    tendrils[&0].send_frame("to zero").await.unwrap();
    tendrils[&1].send_frame("to one").await.unwrap();
    let mut replies = vec![
        within(rx.recv()).await.unwrap(),
        within(rx.recv()).await.unwrap(),
    ];
    replies.sort();
    assert_eq!(
        replies,
        [(0, Bytes::from("1:to zero")), (1, Bytes::from("1:to one"))]
    );
    assert!(
        !client.running(),
        "a connect-only manager accepts no new peers"
    );
    client.shutdown();
    for server in servers {
        server.shutdown();
    }
}

#[tokio::test]
async fn sending_to_a_closed_port_does_not_stop_the_manager() {
    let closed = socket().await;
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let server = UdpManager::new(localhost());
    let (addr, _peers) = counting_server(&server);
    let client = UdpManager::new(localhost());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let make = move || {
        let tx = tx.clone();
        acceptor_fn(move |_: Tendril| -> Result<_, BoxError> {
            let tx = tx.clone();
            Ok(service_fn(move |reply: Bytes| {
                tx.send(reply).unwrap();
                async { Ok::<_, BoxError>(()) }
            }))
        })
    };
    let dead = client
        .connect(closed_addr, make(), NoWrapper)
        .await
        .unwrap();
    for _ in 0..20 {
        dead.send_frame("anyone?").await.unwrap();
    }
    let live = client.connect(addr, make(), NoWrapper).await.unwrap();
    live.send_frame("ping").await.unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), "1:ping");
    assert!(client.error().is_none());
    client.shutdown();
    server.shutdown();
}

#[tokio::test]
async fn the_registry_knows_udp() {
    let registry = tendril_net::Registry::new();
    let manager: UdpManager = registry.get("udp", localhost()).unwrap();
    let (addr, _peers) = counting_server(&manager);
    let client = socket().await;
    client.send_to(b"x", addr).await.unwrap();
    assert_eq!(recv(&client).await, "1:x");
    let found: Tendril = registry
        .find_tendril("udp", (addr, client.local_addr().unwrap()))
        .expect("tracked");
    assert_eq!(found.transport(), "udp");
    manager.shutdown();
}

/// Setting one knob keeps the others at the transport's defaults: UDP peers still
/// idle out after 60 s when only pipelining is changed.
#[test]
fn one_setter_never_resets_another() {
    let builder = UdpManager::builder(localhost())
        .max_in_flight(8)
        .outbound_queue(16)
        .linger(Duration::from_secs(1));
    let config = builder.connection_config();
    assert_eq!(config.idle_timeout, Some(Duration::from_secs(60)));
    assert_eq!(config.max_in_flight, 8);
    assert_eq!(config.outbound_queue, 16);
    assert_eq!(config.linger, Duration::from_secs(1));
    // And one builder builds as often as asked.
    let (first, second) = (builder.build(), builder.build());
    assert!(!first.running() && !second.running());
}

/// Each peer's datagrams go through the manager's wrapper before its application sees
/// them: here one that drops the datagrams saying "spam" and notes whom it wrapped.
#[tokio::test]
async fn a_wrapper_sees_each_peers_datagrams_first() {
    use std::io;
    use std::task::{ready, Context, Poll};

    use bytes::BytesMut;
    use tendril_net::manager::{Datagrams, UdpPeer};

    struct NoSpam(UdpPeer);

    impl Datagrams for NoSpam {
        fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<BytesMut>>> {
            loop {
                match ready!(self.0.poll_recv(cx))? {
                    Some(datagram) if &datagram[..] == b"spam" => continue,
                    other => return Poll::Ready(Ok(other)),
                }
            }
        }

        fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
            self.0.poll_send(cx, datagram)
        }
    }

    let wrapped = Arc::new(Mutex::new(Vec::new()));
    let seen = wrapped.clone();
    let wrapper = service_fn(move |peer: UdpPeer| {
        seen.lock().unwrap().push(peer.peer());
        async move { Ok::<_, BoxError>(NoSpam(peer)) }
    });
    let manager = UdpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                let mut count = 0u32;
                Ok(service_fn(move |frame: Bytes| {
                    count += 1;
                    let reply = format!("{count}:{}", String::from_utf8_lossy(&frame));
                    async move { Ok::<_, BoxError>(Bytes::from(reply)) }
                }))
            }),
            wrapper,
        )
        .unwrap();
    let client = socket().await;
    for datagram in ["spam", "ham", "spam", "eggs"] {
        client.send_to(datagram.as_bytes(), addr).await.unwrap();
    }
    assert_eq!(recv(&client).await, "1:ham");
    assert_eq!(recv(&client).await, "2:eggs");
    assert_eq!(*wrapped.lock().unwrap(), [client.local_addr().unwrap()]);
    assert_eq!(manager.udp_stats().datagrams_in, 4);
    manager.shutdown();
}
