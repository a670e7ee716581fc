//! A UDP echo load client: one socket per peer, each keeping a window of datagrams in
//! flight, every echo checked against what that peer sent, on threads of the
//! benchmark's process (one per active peer); the servers are other processes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Run;

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
    /// Echoes received per second, and how many.
    pub run: Run,
    /// Datagrams never echoed (lost on loopback, or dropped by the server).
    pub lost: usize,
}

/// The datagram peer `peer` sends as its `seq`-th: distinct per peer and sequence, so
/// that a misrouted or reordered echo is caught.
fn datagram(peer: usize, seq: usize) -> [u8; DATAGRAM] {
    let mut bytes = [b'.'; DATAGRAM];
    bytes[..8].copy_from_slice(&(peer as u64).to_le_bytes());
    bytes[8..16].copy_from_slice(&(seq as u64).to_le_bytes());
    bytes
}

/// Binds `count` client sockets on the IPv4 loopback (blocking, with the loss wait as
/// their read timeout).
pub fn sockets(count: usize) -> Vec<Arc<std::net::UdpSocket>> {
    (0..count)
        .map(|_| {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            socket.set_read_timeout(Some(LOSS_WAIT)).expect("timeout");
            Arc::new(socket)
        })
        .collect()
}

/// A two-worker runtime, like the servers': the churn section's client, the QUIC load
/// client, the QUIC baseline server.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `load` against the UDP echo server at `addr` from `sockets` (one per peer;
/// `load.peers` of them are used): `load.active` threads, each running one peer's
/// exchange at a time with blocking calls (a thread per peer while they are active,
/// as a load client written by hand would), taking the next peer when one is done.
///
/// # Panics
///
/// If an echo is not a datagram its peer sent, or arrives out of order.
pub fn run_udp(
    sockets: &[Arc<std::net::UdpSocket>],
    addr: SocketAddr,
    load: &UdpLoad,
) -> UdpOutcome {
    assert!(sockets.len() >= load.peers, "a socket per peer");
    let load = *load;
    let next_peer = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..load.active.clamp(1, load.peers.max(1)))
        .map(|_| {
            let sockets = sockets[..load.peers].to_vec();
            let next_peer = next_peer.clone();
            std::thread::spawn(move || {
                let mut received = 0;
                loop {
                    let id = next_peer.fetch_add(1, Ordering::Relaxed);
                    let Some(socket) = sockets.get(id) else {
                        return received;
                    };
                    received += one_peer(socket, id, addr, load);
                }
            })
        })
        .collect();
    let received: usize = threads
        .into_iter()
        .map(|thread| thread.join().expect("a peer failed"))
        .sum();
    let elapsed = start.elapsed().as_secs_f64();
    UdpOutcome {
        run: Run {
            rate: received as f64 / elapsed,
            frames: received as u64,
        },
        lost: load.peers * load.datagrams - received,
    }
}

/// One peer's exchange; returns the echoes it received.
fn one_peer(socket: &std::net::UdpSocket, id: usize, server: SocketAddr, load: UdpLoad) -> usize {
    let window = load.window.max(1);
    let mut buf = [0u8; 64];
    let (mut sent, mut received) = (0, 0);
    // The lowest sequence number whose echo may still come.
    let mut next = 0;
    while next < load.datagrams {
        while sent < load.datagrams && sent - next < window {
            socket.send_to(&datagram(id, sent), server).expect("send");
            sent += 1;
        }
        match socket.recv_from(&mut buf) {
            Ok((len, _)) => {
                let echo = &buf[..len];
                // Loopback may drop but never reorders: the echo is one of those in
                // flight, and any before it were lost.
                let seq = (len == DATAGRAM)
                    .then(|| u64::from_le_bytes(echo[8..16].try_into().expect("8 bytes")) as usize)
                    .filter(|&seq| (next..sent).contains(&seq) && *echo == datagram(id, seq))
                    .unwrap_or_else(|| panic!("peer {id}: unexpected echo {echo:?}"));
                next = seq + 1;
                received += 1;
            }
            // Everything in flight is lost.
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                next = sent
            }
            Err(err) => panic!("peer {id}: receive: {err}"),
        }
    }
    received
}
