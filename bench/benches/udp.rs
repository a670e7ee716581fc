//! UDP echo throughput with 1, 100 and 10,000 tracked peers: tendril-net's
//! `UdpManager` against a hand-written tokio `UdpSocket` echo loop, in the same run,
//! driven by the same client.
//!
//! ```text
//! cargo bench --bench udp
//! ```
//!
//! Each peer is one client socket keeping a small window of datagrams in flight.
//! Throughput is in echoed datagrams per second (criterion's "elem/s"); divide
//! tendril's by the baseline's for the ratio. The 10,000-peer case needs that many
//! file descriptors (`ulimit -n`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tendril_net::app::acceptor_fn;
use tendril_net::{BoxError, Tendril, UdpManager};
use tokio::net::UdpSocket;
use tokio::runtime::Runtime;
use tower::service_fn;

const PAYLOAD: &[u8] = b"0123456789abcdef0123456789abcdef";

fn start_tendril(runtime: &Runtime) -> SocketAddr {
    runtime.block_on(async {
        let manager = UdpManager::builder("127.0.0.1:0".parse().unwrap())
            .max_peers(20_000)
            .inbound_queue(256)
            .build();
        manager
            .start(acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|datagram: Bytes| async move {
                    Ok::<_, BoxError>(datagram)
                }))
            }))
            .unwrap()
    })
}

/// The baseline: one task receiving and echoing on a tokio socket.
fn start_baseline(runtime: &Runtime) -> SocketAddr {
    runtime.block_on(async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((len, from)) = socket.recv_from(&mut buf).await {
                let _ = socket.send_to(&buf[..len], from).await;
            }
        });
        addr
    })
}

/// One peer: sends `count` datagrams keeping `window` in flight; returns how many
/// echoes came back (a datagram lost on loopback ends the wait after 200 ms).
async fn peer(socket: Arc<UdpSocket>, server: SocketAddr, count: usize, window: usize) -> usize {
    let mut buf = [0u8; 64];
    let mut sent = 0;
    let mut received = 0;
    while sent < count.min(window) {
        socket.send_to(PAYLOAD, server).await.unwrap();
        sent += 1;
    }
    while received < count {
        match tokio::time::timeout(Duration::from_millis(200), socket.recv_from(&mut buf)).await {
            Ok(Ok(_)) => received += 1,
            _ => break,
        }
        if sent < count {
            socket.send_to(PAYLOAD, server).await.unwrap();
            sent += 1;
        }
    }
    received
}

fn udp(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let servers = [
        ("tendril-net", start_tendril(&runtime)),
        ("tokio UdpSocket baseline", start_baseline(&runtime)),
    ];
    for (peers, per_peer, window) in [(1, 40_000, 32), (100, 400, 8), (10_000, 4, 2)] {
        let sockets: Vec<Arc<UdpSocket>> = runtime.block_on(async {
            let mut sockets = Vec::with_capacity(peers);
            for _ in 0..peers {
                sockets.push(Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()));
            }
            sockets
        });
        let mut group = c.benchmark_group(format!("udp echo/{peers} peers"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5))
            .throughput(Throughput::Elements((peers * per_peer) as u64));
        for (name, server) in servers {
            group.bench_function(name, |b| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += runtime.block_on(async {
                            let start = Instant::now();
                            let tasks: Vec<_> = sockets
                                .iter()
                                .map(|socket| {
                                    tokio::spawn(peer(socket.clone(), server, per_peer, window))
                                })
                                .collect();
                            for task in tasks {
                                task.await.unwrap();
                            }
                            start.elapsed()
                        });
                    }
                    total
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, udp);
criterion_main!(benches);
