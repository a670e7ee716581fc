//! UDP under pressure: a full send buffer, a full peer table, churn of peers.

use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, Tendril, UdpManager};
use tower::service_fn;

use super::{counting_server, recv, socket};
use crate::net::*;

/// Every peer's replies go through one socket, from both worker threads at once, with
/// the smallest send buffer: none is lost or sent to the wrong peer. (Over loopback the
/// kernel frees a datagram's send buffer space as it transmits, so the buffer never
/// actually fills here; the wait for room is exercised on real networks only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_replies_to_many_peers_arrives_whole() {
    const PEERS: usize = 100;
    const REPLIES: usize = 20;
    let manager = UdpManager::builder(localhost())
        .send_buffer_size(4096)
        .build();
    let addr = manager
        .start(
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|frame: Bytes| async move {
                    // One small request, twenty 1,000-byte replies.
                    let reply = Bytes::from(frame.repeat(1000 / frame.len().max(1)));
                    Ok::<_, BoxError>(vec![reply; REPLIES])
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..PEERS {
        clients.push(socket().await);
    }
    for client in &clients {
        client.send_to(b"abcd", addr).await.unwrap();
    }
    for client in &clients {
        for _ in 0..REPLIES {
            assert_eq!(recv(client).await, "abcd".repeat(250));
        }
    }
    let stats = manager.udp_stats();
    assert_eq!(stats.datagrams_out, (PEERS * REPLIES) as u64, "{stats}");
    manager.shutdown();
}

/// With the table full, a newcomer sheds a quiet one-datagram peer; peers in a
/// conversation keep their state however many newcomers come. (Paused time: the quiet
/// periods pass at once; loopback datagrams are delivered within the send call.)
#[tokio::test(start_paused = true)]
async fn newcomers_shed_one_shot_peers_never_conversing_ones() {
    let quiet = Duration::from_millis(200);
    let manager = UdpManager::builder(localhost())
        .max_connections(4)
        .shed_idle_after(Some(quiet))
        .build();
    let (addr, _peers) = counting_server(&manager);
    let talker = socket().await;
    for count in 1..=2 {
        talker.send_to(b"e", addr).await.unwrap();
        assert_eq!(recv(&talker).await, format!("{count}:e"));
    }
    for _ in 0..50 {
        // The talker keeps talking, more often than the quiet time; the last
        // newcomer's query is over once it has been quiet that long.
        for _ in 0..2 {
            tokio::time::sleep(quiet * 11 / 20).await;
            talker.send_to(b"e", addr).await.unwrap();
            recv(&talker).await;
        }
        let newcomer = socket().await;
        newcomer.send_to(b"n", addr).await.unwrap();
        assert_eq!(recv(&newcomer).await, "1:n", "{}", manager.udp_stats());
    }
    talker.send_to(b"e", addr).await.unwrap();
    assert_eq!(recv(&talker).await, "103:e");
    let udp = manager.udp_stats();
    assert_eq!(udp.dropped_table_full, 0, "{udp}");
    assert!(udp.peers <= 4, "{udp}");
    // The first three newcomers fit; each later one shed an earlier one (counted as
    // it closes, once its reply is out).
    eventually(|| manager.stats().shed_idle == 47).await;
    manager.shutdown();
}

/// A source port reused for a second query after a quiet gap is the same peer, but not
/// promoted to a conversation by the reuse: it may still be shed.
#[tokio::test(start_paused = true)]
async fn a_reused_source_port_may_still_be_shed() {
    let quiet = Duration::from_millis(200);
    let manager = UdpManager::builder(localhost())
        .max_connections(1)
        .shed_idle_after(Some(quiet))
        .build();
    let (addr, _peers) = counting_server(&manager);
    let resolver = socket().await;
    resolver.send_to(b"q", addr).await.unwrap();
    assert_eq!(recv(&resolver).await, "1:q");
    tokio::time::sleep(quiet).await;
    resolver.send_to(b"q", addr).await.unwrap();
    assert_eq!(recv(&resolver).await, "2:q");
    tokio::time::sleep(quiet).await;
    let newcomer = socket().await;
    newcomer.send_to(b"n", addr).await.unwrap();
    assert_eq!(recv(&newcomer).await, "1:n", "{}", manager.udp_stats());
    eventually(|| manager.stats().shed_idle == 1).await;
    manager.shutdown();
}

/// Peers whose connections end leave the table at once: after any number of them,
/// nothing is held.
#[tokio::test]
async fn peers_that_close_leave_nothing_behind() {
    let manager = UdpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(move |frame: Bytes| {
                    // One exchange per connection.
                    tendril.close();
                    async move { Ok::<_, BoxError>(frame) }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let client = socket().await;
    for i in 0..200 {
        let frame = format!("query {i}");
        client.send_to(frame.as_bytes(), addr).await.unwrap();
        assert_eq!(recv(&client).await, frame);
    }
    eventually(|| manager.stats().open == 0 && manager.udp_stats().peers == 0).await;
    let stats = manager.stats();
    // The same source port came back 200 times: a new connection each time.
    assert_eq!(stats.total, 200, "{stats}");
    let udp = manager.udp_stats();
    assert_eq!(udp.dropped_table_full + udp.dropped_queue_full, 0, "{udp}");
    manager.shutdown();
}

/// An empty datagram is a frame of its own (identity framer): DNS-style services see
/// it, and an empty reply goes out as an empty datagram.
#[tokio::test]
async fn an_empty_datagram_is_an_empty_frame() {
    let manager = UdpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|frame: Bytes| async move {
                    Ok::<_, BoxError>(frame)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let client = socket().await;
    client.send_to(b"", addr).await.unwrap();
    assert_eq!(recv(&client).await, "");
    client.send_to(b"after", addr).await.unwrap();
    assert_eq!(recv(&client).await, "after");
    assert_eq!(manager.stats().frames_in, 2);
    manager.shutdown();
}

/// A server whose application waits for `gate` before answering anything, counting
/// what it handled.
fn gated_server(
    manager: &UdpManager,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<tokio::sync::Semaphore>,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let handled = Arc::new(AtomicU64::new(0));
    let (app_gate, app_handled) = (gate.clone(), handled.clone());
    let addr = manager
        .start(
            acceptor_fn(move |_: Tendril| -> Result<_, BoxError> {
                let (gate, handled) = (app_gate.clone(), app_handled.clone());
                Ok(service_fn(move |_: Bytes| {
                    let (gate, handled) = (gate.clone(), handled.clone());
                    async move {
                        let _open = gate.acquire().await;
                        handled.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, BoxError>(())
                    }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (addr, gate, handled)
}

/// With the defaults, a burst of 2,000 datagrams from one sender to an application
/// that answers none of them yet is queued whole, not dropped (the 4,096-datagram
/// queue per peer), and all are handled once it does.
#[tokio::test]
async fn a_burst_from_one_sender_is_queued_whole_with_the_defaults() {
    use std::sync::atomic::Ordering;
    let manager = UdpManager::new(localhost());
    let (addr, gate, handled) = gated_server(&manager);
    let sender = socket().await;
    for i in 0..2000u32 {
        sender.send_to(&i.to_be_bytes(), addr).await.unwrap();
        if i % 256 == 0 {
            // Let the receive loop drain the kernel's buffer now and then, as a
            // second core would.
            tokio::task::yield_now().await;
        }
    }
    eventually(|| manager.udp_stats().datagrams_in == 2000).await;
    let udp = manager.udp_stats();
    assert_eq!(
        (udp.dropped_queue_full, udp.dropped_kernel),
        (0, 0),
        "{udp}"
    );
    assert!(udp.receive_buffer > 0, "{udp}");
    gate.add_permits(1 << 20);
    eventually(|| handled.load(Ordering::Relaxed) == 2000).await;
    eventually(|| manager.udp_stats().queued == 0).await;
    manager.shutdown();
}

/// All peers' queues together hold at most `inbound_budget` datagrams: beyond it a
/// datagram is dropped and counted, whichever peer it is for, and the budget comes
/// back as the application takes them.
#[tokio::test]
async fn the_queues_of_all_peers_share_one_budget() {
    use std::sync::atomic::Ordering;
    let manager = UdpManager::builder(localhost()).inbound_budget(100).build();
    let (addr, gate, handled) = gated_server(&manager);
    let peers = [socket().await, socket().await, socket().await];
    for peer in &peers {
        for i in 0..50u32 {
            peer.send_to(&i.to_be_bytes(), addr).await.unwrap();
        }
    }
    // Each tracked peer's first datagram goes to its application (waiting at the
    // gate); the rest are queued or dropped (a peer whose first datagram finds the
    // budget spent is not tracked at all).
    eventually(|| {
        let udp = manager.udp_stats();
        udp.datagrams_in == 150 && udp.queued + udp.dropped_queue_full + udp.peers == 150
    })
    .await;
    let udp = manager.udp_stats();
    assert!(udp.queued <= 100 && udp.dropped_queue_full >= 47, "{udp}");
    gate.add_permits(1 << 20);
    let kept = 150 - udp.dropped_queue_full;
    eventually(|| handled.load(Ordering::Relaxed) == kept).await;
    eventually(|| manager.udp_stats().queued == 0).await;
    manager.shutdown();
}

/// Replies of different sizes queued together go out as separate datagrams, in order
/// (equal-size runs together, the others one by one).
#[tokio::test]
async fn replies_of_mixed_sizes_keep_their_boundaries_and_order() {
    let manager = UdpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|_: Bytes| async move {
                    let sizes = [3, 3, 3, 1300, 7, 7, 0, 2000, 2000, 5];
                    let replies: Vec<Bytes> = sizes
                        .iter()
                        .enumerate()
                        .map(|(i, &size)| Bytes::from(vec![b'a' + i as u8; size]))
                        .collect();
                    Ok::<_, BoxError>(replies)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let client = socket().await;
    client.send_to(b"go", addr).await.unwrap();
    for (i, size) in [3, 3, 3, 1300, 7, 7, 0, 2000, 2000, 5]
        .into_iter()
        .enumerate()
    {
        assert_eq!(recv(&client).await, vec![b'a' + i as u8; size], "reply {i}");
    }
    assert_eq!(manager.udp_stats().datagrams_out, 10);
    manager.shutdown();
}
