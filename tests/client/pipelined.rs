//! Pipelined clients: responses in request order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tendril_net::app::acceptor_fn;
use tendril_net::client::Client;
use tendril_net::framer::{FramerSwitch, LineFramer};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, TcpManager, Tendril};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

use crate::support::{localhost, within};

/// A line server that answers `echo X` with `X` after a random-ish delay, 16 calls at a
/// time (replies still in order), `late X` after 300 ms, and never answers `never`.
fn server() -> (TcpManager, std::net::SocketAddr) {
    let manager = TcpManager::builder(localhost()).max_in_flight(16).build();
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service_fn(|line: Bytes| async move {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if let Some(x) = text.strip_prefix("echo ") {
                        let delay = x.bytes().map(u64::from).sum::<u64>() % 7;
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        return Ok::<_, BoxError>(Some(Bytes::from(x.to_owned())));
                    }
                    if let Some(x) = text.strip_prefix("late ") {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        return Ok(Some(Bytes::from(x.to_owned())));
                    }
                    Ok(None)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr)
}

async fn client(addr: std::net::SocketAddr) -> Client<Bytes> {
    within(Client::<Bytes>::pipelined().max_in_flight(32).connect(
        &TcpManager::new(localhost()),
        addr,
        NoWrapper,
        FramerSwitch::symmetric(LineFramer::new()),
    ))
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_match_requests_under_concurrency() {
    let (_server, addr) = server();
    let mut service = ServiceBuilder::new()
        .concurrency_limit(24)
        .service(client(addr).await);
    let mut pending = FuturesUnordered::new();
    let total = 2_000;
    let mut sent = 0;
    let mut answered = 0;
    within(async {
        while answered < total {
            tokio::select! {
                Some((i, answer)) = pending.next(), if !pending.is_empty() => {
                    let answer: Result<Bytes, tendril_net::Error> = answer;
                    assert_eq!(answer.unwrap(), format!("n{i}"));
                    answered += 1;
                }
                ready = service.ready(), if sent < total => {
                    let call = ready.unwrap().call(Bytes::from(format!("echo n{sent}")));
                    let i = sent;
                    pending.push(async move { (i, call.await) });
                    sent += 1;
                }
            }
        }
    })
    .await;
    assert_eq!(service.get_ref().in_flight(), 0);
}

/// Paused time: the delays and timeouts advance when the runtime is idle.
#[tokio::test(start_paused = true)]
async fn max_in_flight_holds_poll_ready_back() {
    let (_server, addr) = server();
    let mut client = within(Client::<Bytes>::pipelined().max_in_flight(2).connect(
        &TcpManager::new(localhost()),
        addr,
        NoWrapper,
        FramerSwitch::symmetric(LineFramer::new()),
    ))
    .await
    .unwrap();
    let first = client.ready().await.unwrap().call(Bytes::from("late a"));
    let second = client.ready().await.unwrap().call(Bytes::from("late b"));
    assert_eq!(client.in_flight(), 2);
    let third_ready = tokio::time::timeout(Duration::from_millis(50), client.ready()).await;
    assert!(third_ready.is_err(), "a third request waits");
    assert_eq!(within(first).await.unwrap(), "a");
    within(client.ready()).await.unwrap();
    assert_eq!(within(second).await.unwrap(), "b");
}

/// Paused time: the delays and timeouts advance when the runtime is idle.
#[tokio::test(start_paused = true)]
async fn a_timed_out_request_does_not_shift_the_answers() {
    let (_server, addr) = server();
    let client = client(addr).await;
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service(client);
    let late = service.ready().await.unwrap().call(Bytes::from("late x"));
    let err = within(late).await.unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");
    // Given up on, it is still on the wire: its slot is held until its answer comes.
    assert_eq!(service.get_ref().in_flight(), 1);
    // The late answer arrives, finds the abandoned request first in line, and is
    // dropped; the next request gets its own.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(service.get_ref().in_flight(), 0);
    let answer = service
        .ready()
        .await
        .unwrap()
        .call(Bytes::from("echo y"))
        .await
        .unwrap();
    assert_eq!(answer, "y");
    assert_eq!(service.get_ref().stats().late, 1);
}

#[tokio::test]
async fn pending_requests_fail_when_the_server_closes() {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                let count = Arc::new(Mutex::new(0));
                Ok(service_fn(move |_: Bytes| {
                    let mut seen = count.lock().unwrap();
                    *seen += 1;
                    if *seen == 3 {
                        tendril.close();
                    }
                    async { Ok::<_, BoxError>(None::<Bytes>) }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut client = client(addr).await;
    let mut calls = Vec::new();
    for i in 0..3 {
        calls.push(
            client
                .ready()
                .await
                .unwrap()
                .call(Bytes::from(format!("r{i}"))),
        );
    }
    for call in calls {
        let err = within(call).await.unwrap_err();
        assert!(err.is_closed(), "{err}");
    }
    let err = within(client.ready()).await.unwrap_err();
    assert!(err.is_closed(), "{err}");
}

#[tokio::test]
async fn unsolicited_frames_go_to_the_handler() {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                tendril.try_send_frame(Bytes::from("hello, client"))?;
                Ok(service_fn(
                    |line: Bytes| async move { Ok::<_, BoxError>(line) },
                ))
            }),
            NoWrapper,
        )
        .unwrap();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let mut client = within(
        Client::<Bytes>::pipelined()
            .on_unsolicited(move |frame| {
                let _ = seen_tx.send(frame);
            })
            .connect(
                &TcpManager::new(localhost()),
                addr,
                NoWrapper,
                FramerSwitch::symmetric(LineFramer::new()),
            ),
    )
    .await
    .unwrap();
    assert_eq!(within(seen.recv()).await.unwrap(), "hello, client");
    let answer = client.ready().await.unwrap().call(Bytes::from("ping"));
    assert_eq!(within(answer).await.unwrap(), "ping");
    assert_eq!(client.stats().unsolicited, 1);
}

#[tokio::test]
async fn shared_through_a_buffer() {
    let (_server, addr) = server();
    let service = tower::buffer::Buffer::new(client(addr).await, 64);
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let mut service = service.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let line = format!("t{task}-{i}");
                    let call = service
                        .ready()
                        .await
                        .unwrap()
                        .call(Bytes::from(format!("echo {line}")));
                    assert_eq!(call.await.unwrap(), line);
                }
            })
        })
        .collect();
    for task in tasks {
        within(task).await.unwrap();
    }
}

/// Without a manager: dialled over TCP, with the socket's addresses.
#[tokio::test]
async fn dials_tcp_without_a_manager() {
    let (_server, addr) = server();
    let mut client = within(
        Client::<Bytes>::pipelined().connect_tcp(addr, FramerSwitch::symmetric(LineFramer::new())),
    )
    .await
    .unwrap();
    assert_eq!(client.tendril().remote().as_inet(), Some(addr));
    assert!(client
        .tendril()
        .local()
        .as_inet()
        .unwrap()
        .ip()
        .is_loopback());
    let answer = within(client.ready().await.unwrap().call(Bytes::from("echo tcp")))
        .await
        .unwrap();
    assert_eq!(answer, "tcp");
}

/// Over a stream connected elsewhere (a duplex pipe to a server run by the test):
/// requests and responses flow, and the end of the other side fails what is pending.
#[tokio::test]
async fn runs_over_an_existing_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (ours, mut theirs) = tokio::io::duplex(64);
    let mut client =
        within(Client::<Bytes>::pipelined().over(ours, FramerSwitch::symmetric(LineFramer::new())))
            .await
            .unwrap();
    assert_eq!(client.tendril().remote().as_inet(), None);
    let call = client.ready().await.unwrap().call(Bytes::from("ping"));
    let mut request = [0u8; 6];
    within(theirs.read_exact(&mut request)).await.unwrap();
    assert_eq!(&request, b"ping\r\n");
    within(theirs.write_all(b"pong\r\n")).await.unwrap();
    assert_eq!(within(call).await.unwrap(), "pong");
    let pending = client.ready().await.unwrap().call(Bytes::from("again"));
    drop(theirs);
    assert!(within(pending).await.is_err(), "the other end went away");
}
