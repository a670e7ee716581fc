//! End-to-end line echo over loopback: tendril-net's echo server against a
//! hand-written tokio + tokio-util `Framed` echo server (the baseline lives here, not
//! in the library), driven in the same run by the same client.
//!
//! ```text
//! cargo bench --bench echo
//! ```
//!
//! Two loads: 4 connections sending without waiting (unbounded pipelining), and 64
//! connections with at most 100 lines in flight each. Both servers use the same
//! `LineFramer`, so the difference is the framework. Throughput is in lines per second
//! (criterion's "elem/s"); divide tendril's by the baseline's for the ratio.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, TcpManager, Tendril};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;
use tower::service_fn;

const LINE: &[u8] = b"the quick brown fox\r\n";

fn start_tendril(runtime: &Runtime) -> SocketAddr {
    runtime.block_on(async {
        let manager = TcpManager::new("127.0.0.1:0".parse().unwrap());
        let addr = manager
            .start(
                acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                    tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                    Ok(service_fn(
                        |line: Bytes| async move { Ok::<_, BoxError>(line) },
                    ))
                }),
                NoWrapper,
            )
            .unwrap();
        // The manager lives as long as the process.
        std::mem::forget(manager);
        addr
    })
}

/// The baseline: what one writes by hand with tokio and tokio-util, batching writes
/// and flushing when no more input is ready.
fn start_baseline(runtime: &Runtime) -> SocketAddr {
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                stream.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let mut framed = Framed::new(stream, LineFramer::new());
                    while let Some(Ok(line)) = framed.next().await {
                        if framed.feed(line).await.is_err() {
                            return;
                        }
                        while let Some(Some(Ok(line))) = framed.next().now_or_never() {
                            if framed.feed(line).await.is_err() {
                                return;
                            }
                        }
                        if SinkExt::<Bytes>::flush(&mut framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    })
}

/// One connection: sends `lines` lines with at most `window` unanswered (or no limit),
/// and reads until every reply arrived.
async fn drive(addr: SocketAddr, lines: usize, window: Option<usize>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let credits = window.map(|w| Arc::new(Semaphore::new(w)));
    let writer_credits = credits.clone();
    let sender = tokio::spawn(async move {
        let batch: Vec<u8> = LINE.repeat(256);
        let mut left = lines;
        while left > 0 {
            let mut n = left.min(256);
            if let Some(credits) = &writer_credits {
                let first = credits.acquire().await.unwrap();
                first.forget();
                let mut granted = 1;
                while granted < n {
                    match credits.try_acquire() {
                        Ok(permit) => {
                            permit.forget();
                            granted += 1;
                        }
                        Err(_) => break,
                    }
                }
                n = granted;
            }
            writer.write_all(&batch[..n * LINE.len()]).await.unwrap();
            left -= n;
        }
        writer
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0;
    while received < lines {
        let n = reader.read(&mut buf).await.unwrap();
        assert!(n > 0, "server closed early");
        let replies = memchr::memchr_iter(b'\n', &buf[..n]).count();
        received += replies;
        if let Some(credits) = &credits {
            credits.add_permits(replies);
        }
    }
    drop(sender.await.unwrap());
}

fn run_load(
    runtime: &Runtime,
    addr: SocketAddr,
    connections: usize,
    lines: usize,
    window: Option<usize>,
) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        let clients: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(drive(addr, lines, window)))
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        start.elapsed()
    })
}

fn echo(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let servers = [
        ("tendril-net", start_tendril(&runtime)),
        ("tokio Framed baseline", start_baseline(&runtime)),
    ];
    let loads = [
        ("4 connections, unbounded pipelining", 4, 50_000, None),
        ("64 connections, 100 in flight", 64, 3_000, Some(100)),
    ];
    for (load, connections, lines, window) in loads {
        let mut group = c.benchmark_group(format!("echo/{load}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(6))
            .throughput(Throughput::Elements((connections * lines) as u64));
        for (name, addr) in servers {
            group.bench_function(name, |b| {
                b.iter_custom(|iterations| {
                    (0..iterations)
                        .map(|_| run_load(&runtime, addr, connections, lines, window))
                        .sum()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, echo);
criterion_main!(benches);
