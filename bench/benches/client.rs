//! Pipelined requests against the kv server over loopback: tendril-net's `Client`
//! (a tower service) against a hand-written tokio client doing the same protocol with
//! `Framed`, in the same run, on the same server.
//!
//! ```text
//! cargo bench --bench client
//! ```
//!
//! Each iteration sends 20,000 requests (alternately `SET kI vI` and `GET kI`) on one
//! connection and checks every answer, with 1 or 64 requests in flight. Throughput is
//! in requests per second (criterion's "elem/s"); divide tendril's by the baseline's
//! for the ratio.
//!
//! Tagged calls, 64 in flight (`client/tagged`): the multiplexed `Client` against a
//! server answering in completion order, and a peer's caller (`Peer::connect`)
//! against a peer server (`Peer::acceptor`), the same lines both ways (`? TAG body`
//! answered `! TAG body`): what calling over a connection that also serves costs.

#[path = "../../examples/kv/store.rs"]
mod store;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tendril_net::app::service;
use tendril_net::client::{Classify, Client, Kind, Peer, Tagger};
use tendril_net::framer::{FramerSwitch, LineFramer};
use tendril_net::wrap::NoWrapper;
use tendril_net::{ReplyOrder, TcpManager, Tendril};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::codec::Framed;
use tower::{Service, ServiceExt};

const REQUESTS: usize = 20_000;

/// Request `i` and its expected answer.
fn request(i: usize) -> (Bytes, Bytes) {
    let key = i / 2;
    if i % 2 == 0 {
        (Bytes::from(format!("SET k{key} v{key}")), Bytes::from("OK"))
    } else {
        (
            Bytes::from(format!("GET k{key}")),
            Bytes::from(format!("VALUE v{key}")),
        )
    }
}

fn start_server(runtime: &Runtime) -> SocketAddr {
    runtime.block_on(async {
        let manager = TcpManager::new("127.0.0.1:0".parse().unwrap());
        let addr = manager
            .start(store::acceptor(store::Store::default()), NoWrapper)
            .unwrap();
        // The manager lives as long as the process.
        std::mem::forget(manager);
        addr
    })
}

/// `? TAG body` asks, `! TAG body` answers.
struct Tagged;

impl Tagged {
    fn tag_of(frame: &Bytes) -> Option<u64> {
        let rest = frame.get(2..)?;
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
    }

    fn write(request: &Bytes, tag: u64) -> Bytes {
        let mut line = format!("? {tag} ").into_bytes();
        line.extend_from_slice(request);
        line.into()
    }
}

impl Tagger<Bytes, Bytes> for Tagged {
    fn tag(&self, request: Bytes, tag: u64) -> Bytes {
        Tagged::write(&request, tag)
    }

    fn tag_of(&self, response: &Bytes) -> Option<u64> {
        Tagged::tag_of(response)
    }
}

impl Classify<Bytes> for Tagged {
    type Key = u64;

    fn classify(&self, frame: &Bytes) -> Kind<u64> {
        match frame.first() {
            Some(b'!') => Kind::Response(Tagged::tag_of(frame)),
            _ => Kind::Request(None),
        }
    }

    fn tag(&self, request: Bytes, tag: u64) -> Bytes {
        Tagged::write(&request, tag)
    }
}

/// The tagged servers' answer: the request with `!` for `?`.
async fn answer(frame: Bytes) -> Result<Option<Bytes>, tendril_net::BoxError> {
    let mut answer = frame.to_vec();
    answer[0] = b'!';
    Ok(Some(answer.into()))
}

/// A plain server for the multiplexed client, and a peer server for the peer's caller.
fn start_tagged_servers(runtime: &Runtime) -> (SocketAddr, SocketAddr) {
    runtime.block_on(async {
        let framers = || FramerSwitch::symmetric(LineFramer::new());
        let plain = TcpManager::builder("127.0.0.1:0".parse().unwrap())
            .max_in_flight(65)
            .reply_order(ReplyOrder::Completion)
            .build();
        let plain_addr = plain
            .start_with_framers(
                tendril_net::app::acceptor_fn(|_: Tendril| Ok(service(answer))),
                NoWrapper,
                framers,
            )
            .unwrap();
        let peer = TcpManager::new("127.0.0.1:0".parse().unwrap());
        let acceptor = Peer::new(Tagged).acceptor(|_caller, _: &Tendril| service(answer));
        let peer_addr = peer
            .start_with_framers(acceptor, NoWrapper, framers)
            .unwrap();
        // The managers live as long as the process.
        std::mem::forget((plain, peer));
        (plain_addr, peer_addr)
    })
}

/// tendril-net: calls `client` with the `n` requests `request` makes, as many in
/// flight as its bound allows, each answer checked by `check(index, answer)`.
async fn drive(
    client: &mut Client<Bytes>,
    n: usize,
    request: impl Fn(usize) -> Bytes,
    check: impl Fn(usize, Bytes),
) {
    let mut pending = FuturesUnordered::new();
    let mut sent = 0;
    let mut answered = 0;
    while answered < n {
        tokio::select! {
            Some((i, answer)) = pending.next(), if !pending.is_empty() => {
                let (i, answer): (usize, Result<Bytes, tendril_net::Error>) = (i, answer);
                check(i, answer.unwrap());
                answered += 1;
            }
            ready = client.ready(), if sent < n => {
                let call = ready.unwrap().call(request(sent));
                let i = sent;
                pending.push(async move { (i, call.await) });
                sent += 1;
            }
        }
    }
}

/// The pipelined kv requests, each answer compared with the expected one.
async fn tendril_client(client: &mut Client<Bytes>, requests: &[(Bytes, Bytes)]) {
    let request = |i: usize| requests[i].0.clone();
    drive(client, requests.len(), request, |i, answer| {
        assert_eq!(answer, requests[i].1);
    })
    .await;
}

/// The baseline: what one writes by hand with tokio and `Framed`: queue requests up to
/// the window, flush, wait for an answer and take every other answer already there,
/// repeat.
async fn baseline_client(
    framed: &mut Framed<TcpStream, LineFramer>,
    window: usize,
    requests: &[(Bytes, Bytes)],
) {
    let mut sent = 0;
    let mut answered = 0;
    while answered < requests.len() {
        let mut fed = false;
        while sent < requests.len() && sent - answered < window {
            framed.feed(requests[sent].0.clone()).await.unwrap();
            sent += 1;
            fed = true;
        }
        if fed {
            SinkExt::<Bytes>::flush(framed).await.unwrap();
        }
        let answer = framed.next().await.unwrap().unwrap();
        assert_eq!(answer, requests[answered].1);
        answered += 1;
        while answered < sent {
            match framed.next().now_or_never() {
                Some(answer) => {
                    assert_eq!(answer.unwrap().unwrap(), requests[answered].1);
                    answered += 1;
                }
                None => break,
            }
        }
    }
}

fn client(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = start_server(&runtime);
    let requests: Vec<_> = (0..REQUESTS).map(request).collect();
    for window in [1, 64] {
        let mut group = c.benchmark_group(format!("client/{window} in flight"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(if window == 1 { 8 } else { 5 }))
            .throughput(Throughput::Elements(REQUESTS as u64));
        let mut client = runtime.block_on(async {
            Client::<Bytes>::pipelined()
                .max_in_flight(window)
                .connect(
                    &TcpManager::new("127.0.0.1:0".parse().unwrap()),
                    addr,
                    NoWrapper,
                    FramerSwitch::symmetric(LineFramer::new()),
                )
                .await
                .unwrap()
        });
        group.bench_function("tendril-net Client", |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iterations {
                        tendril_client(&mut client, &requests).await;
                    }
                    start.elapsed()
                })
            })
        });
        let mut framed = runtime.block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            Framed::new(stream, LineFramer::new())
        });
        group.bench_function("tokio Framed baseline", |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iterations {
                        baseline_client(&mut framed, window, &requests).await;
                    }
                    start.elapsed()
                })
            })
        });
        group.finish();
    }
}

fn tagged(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (plain, peer) = start_tagged_servers(&runtime);
    let requests: Vec<Bytes> = (0..REQUESTS)
        .map(|i| Bytes::from(format!("body{i}")))
        .collect();
    let framers = || FramerSwitch::symmetric(LineFramer::new());
    let manager = TcpManager::new("127.0.0.1:0".parse().unwrap());
    let (mut multiplexed, mut caller) = runtime.block_on(async {
        let multiplexed = Client::<Bytes>::multiplexed(Tagged)
            .max_in_flight(64)
            .tag_space(64)
            .connect(&manager, plain, NoWrapper, framers())
            .await
            .unwrap();
        let caller = Peer::new(Tagged)
            .max_in_flight(64)
            .tag_space(64)
            .connect(
                &manager,
                peer,
                NoWrapper,
                framers(),
                |_caller, _: &Tendril| service(answer),
            )
            .await
            .unwrap();
        (multiplexed, caller)
    });
    let mut group = c.benchmark_group("client/tagged, 64 in flight");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(REQUESTS as u64));
    for (name, client) in [
        ("multiplexed Client", &mut multiplexed),
        ("peer caller", &mut caller),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iterations {
                        tagged_client(client, &requests).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// Tagged calls: answers in any order, each checked against its request's body.
async fn tagged_client(client: &mut Client<Bytes>, requests: &[Bytes]) {
    let request = |i: usize| requests[i].clone();
    drive(client, requests.len(), request, |i, answer| {
        assert!(answer.ends_with(&requests[i][..]) && answer[0] == b'!');
    })
    .await;
}

criterion_group!(benches, client, tagged);
criterion_main!(benches);
