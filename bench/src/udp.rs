//! A UDP echo load client: one socket per peer, each keeping a window of datagrams in
//! flight, every echo checked against what that peer sent. It runs on its own tokio
//! runtime in the benchmark's process; the servers are other processes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// How long a peer waits for an echo before it counts what is in flight as lost.
const LOSS_WAIT: Duration = Duration::from_millis(200);

/// Bytes per datagram.
const DATAGRAM: usize = 32;

/// A UDP echo load: `peers` sockets, each sending `datagrams` datagrams with at most
/// `window` unanswered, `active` peers at a time (so that what is in flight fits the
/// kernel's receive buffers and the figure measures the servers, not loss timeouts).
#[derive(Debug, Clone, Copy)]
pub struct UdpLoad {
    /// Client sockets (peers, to the server) at once.
    pub peers: usize,
    /// Datagrams per peer.
    pub datagrams: usize,
    /// Datagrams in flight per peer at most (at least 1).
    pub window: usize,
    /// Peers exchanging at once (at least 1); a peer that is done makes room for the
    /// next.
    pub active: usize,
}

/// What a UDP load run measured.
#[derive(Debug, Clone, Copy)]
pub struct UdpOutcome {
    /// Echoes received per second.
    pub rate: f64,
    /// Datagrams never echoed (lost on loopback, or dropped by the server).
    pub lost: usize,
}

/// The datagram peer `peer` sends as its `seq`-th: distinct per peer and sequence, so
/// that a misrouted or reordered echo is caught.
fn datagram(peer: usize, seq: usize) -> [u8; DATAGRAM] {
    let mut bytes = [b'.'; DATAGRAM];
    let text = format!("p{peer}-{seq}");
    bytes[..text.len()].copy_from_slice(text.as_bytes());
    bytes
}

/// Binds `count` client sockets on the IPv4 loopback.
pub fn sockets(runtime: &tokio::runtime::Runtime, count: usize) -> Vec<Arc<UdpSocket>> {
    runtime.block_on(async {
        let mut sockets = Vec::with_capacity(count);
        for _ in 0..count {
            let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            sockets.push(Arc::new(socket));
        }
        sockets
    })
}

/// The client's runtime: two workers, like the servers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `load` against the UDP echo server at `addr` from `sockets` (one per peer;
/// `load.peers` of them are used).
///
/// # Panics
///
/// If an echo is not a datagram its peer sent, or arrives out of order.
pub fn run_udp(
    runtime: &tokio::runtime::Runtime,
    sockets: &[Arc<UdpSocket>],
    addr: SocketAddr,
    load: &UdpLoad,
) -> UdpOutcome {
    assert!(sockets.len() >= load.peers, "a socket per peer");
    let load = *load;
    runtime.block_on(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(load.active.max(1)));
        let start = Instant::now();
        let tasks: Vec<_> = sockets[..load.peers]
            .iter()
            .enumerate()
            .map(|(id, socket)| {
                let (socket, slots) = (socket.clone(), slots.clone());
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await.expect("never closed");
                    one_peer(socket, id, addr, load).await
                })
            })
            .collect();
        let mut received = 0;
        for task in tasks {
            received += task.await.expect("a peer failed");
        }
        let elapsed = start.elapsed().as_secs_f64();
        UdpOutcome {
            rate: received as f64 / elapsed,
            lost: load.peers * load.datagrams - received,
        }
    })
}

/// One peer's exchange; returns the echoes it received.
async fn one_peer(socket: Arc<UdpSocket>, id: usize, server: SocketAddr, load: UdpLoad) -> usize {
    let window = load.window.max(1);
    let mut buf = [0u8; 64];
    let (mut sent, mut received) = (0, 0);
    // The lowest sequence number whose echo may still come.
    let mut next = 0;
    while next < load.datagrams {
        while sent < load.datagrams && sent - next < window {
            socket
                .send_to(&datagram(id, sent), server)
                .await
                .expect("send");
            sent += 1;
        }
        match tokio::time::timeout(LOSS_WAIT, socket.recv_from(&mut buf)).await {
            Ok(Ok((len, _))) => {
                let echo = &buf[..len];
                // Loopback may drop but never reorders: the echo is one of those in
                // flight, and any before it were lost.
                let seq = (next..sent)
                    .find(|&seq| echo == datagram(id, seq))
                    .unwrap_or_else(|| {
                        panic!(
                            "peer {id}: unexpected echo {:?}",
                            String::from_utf8_lossy(echo)
                        )
                    });
                next = seq + 1;
                received += 1;
            }
            Ok(Err(err)) => panic!("peer {id}: receive: {err}"),
            // Everything in flight is lost.
            Err(_) => next = sent,
        }
    }
    received
}
