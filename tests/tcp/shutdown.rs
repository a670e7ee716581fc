use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager, Tendril};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::service_fn;

use crate::support::*;

/// 100 clients stream lines to a server whose application takes a little time per
/// line; a graceful shutdown in the middle must answer every line it decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_answers_every_decoded_frame() {
    let manager = TcpManager::builder(localhost()).max_in_flight(4).build();
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service_fn(|line: Bytes| async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok::<_, BoxError>(line)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..100 {
        clients.spawn(async move {
            let stream = within(TcpStream::connect(addr)).await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            let sender = tokio::spawn(async move {
                // Bounded: at most 2,000 lines, stopping when the server goes away.
                for j in 0..2000 {
                    if writer
                        .write_all(format!("{i}:{j}\r\n").as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            let mut replies = Vec::new();
            within(reader.read_to_end(&mut replies)).await.ok();
            sender.abort();
            // Replies are whole lines, in order, with nothing skipped.
            let text = String::from_utf8(replies).unwrap();
            assert!(
                text.is_empty() || text.ends_with("\r\n"),
                "a reply was cut: {text:?}"
            );
            for (j, line) in text.lines().enumerate() {
                assert_eq!(line, format!("{i}:{j}"));
            }
            text.lines().count() as u64
        });
    }
    eventually(|| manager.stats().frames_out >= 500).await;
    let finished = within(manager.graceful_shutdown(Duration::from_secs(10))).await;
    assert!(finished, "connections did not finish in time");
    let mut received = 0;
    while let Some(count) = within(clients.join_next()).await {
        received += count.unwrap();
    }
    let stats = manager.stats();
    assert_eq!(stats.open, 0);
    assert_eq!(
        stats.frames_in, stats.frames_out,
        "a decoded frame was not answered"
    );
    assert_eq!(
        received, stats.frames_out,
        "an answer did not reach its client"
    );
}

#[tokio::test]
async fn stop_keeps_connections_but_refuses_new_ones() {
    let (manager, addr) = echo_server(TcpManager::new(localhost()), "line");
    let mut stream = client(addr, b"one\r\n").await;
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["one"]);
    assert!(manager.running());
    manager.stop();
    assert!(!manager.running());
    eventually(|| std::net::TcpStream::connect(addr).is_err()).await;
    stream.write_all(b"two\r\n").await.unwrap();
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["two"]);
    manager.shutdown();
    assert_eq!(read_to_end(&mut stream).await, b"");
}

#[tokio::test]
async fn lookup_by_local_and_remote_address() {
    let (manager, addr) = echo_server(TcpManager::new(localhost()), "line");
    let mut stream = client(addr, b"x\r\n").await;
    read_frames(&mut stream, "line", 1).await;
    let local = stream.peer_addr().unwrap();
    let remote = stream.local_addr().unwrap();
    let tendril: Tendril = manager.tendril(local, remote).expect("tracked");
    assert_eq!(tendril.remote().as_inet(), Some(remote));
    assert_eq!(tendril.transport(), "tcp");
    assert_eq!(manager.connections(), [(local.into(), remote.into())]);
    tendril.send_frame("pushed").await.unwrap();
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["pushed"]);
    drop(stream);
    eventually(|| manager.tendril::<Bytes, Bytes>(local, remote).is_none()).await;
    manager.shutdown();
}

/// What the peer had sent when the shutdown began is answered, even the frames behind
/// a slow one that had not been decoded yet; then the connection closes.
#[tokio::test(start_paused = true)]
async fn graceful_shutdown_answers_what_had_arrived() {
    let manager = TcpManager::new(localhost());
    let (tx, mut calls) = tokio::sync::mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                let tx = tx.clone();
                Ok(tendril_net::app::service(move |line: Bytes| {
                    let _ = tx.send(line.clone());
                    async move {
                        if line == "slow" {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Ok(line)
                    }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut stream = client(addr, b"slow\r\nfirst\r\nsecond\r\n").await;
    // The slow call is running; the two lines behind it wait, unread by the app.
    assert_eq!(within(calls.recv()).await.unwrap(), "slow");
    let shutdown = manager.graceful_shutdown(Duration::from_secs(10));
    assert!(within(shutdown).await);
    assert_eq!(
        read_to_end(&mut stream).await,
        b"slow\r\nfirst\r\nsecond\r\n"
    );
}

/// A peer that pipelined more than the server had read when the shutdown began: what
/// its socket held is read without waiting (up to 1 MiB past what was read: here 48 KB,
/// three read chunks) and every line answered, as `graceful_shutdown` documents.
#[tokio::test]
async fn graceful_shutdown_answers_what_the_socket_held() {
    let manager = TcpManager::new(localhost());
    let (called, mut calls) = tokio::sync::mpsc::unbounded_channel();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let hold = release.clone();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                let (called, hold) = (called.clone(), hold.clone());
                Ok(tendril_net::app::service(move |line: Bytes| {
                    let (called, hold) = (called.clone(), hold.clone());
                    async move {
                        if line == "slow" {
                            let _ = called.send(());
                            hold.notified().await;
                        }
                        Ok(line)
                    }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let lines = 6_000;
    let mut sent = b"slow\r\n".to_vec();
    sent.extend((0..lines).flat_map(|i| format!("l{i:05}\r\n").into_bytes()));
    // The first read takes "slow" and what came with it; the rest waits in the
    // server's socket while the slow call runs (one frame at a time).
    let mut stream = client(addr, &sent).await;
    within(calls.recv()).await.unwrap();
    let stopping = manager.clone();
    let shutdown =
        tokio::spawn(async move { stopping.graceful_shutdown(Duration::from_secs(10)).await });
    // The shutdown has begun when no new connection is accepted.
    eventually(|| !manager.running()).await;
    release.notify_one();
    let answered = read_to_end(&mut stream).await;
    // Gone from this side too, so the server's lingering close ends at once.
    drop(stream);
    assert!(within(shutdown).await.unwrap(), "finished in time");
    assert_eq!(answered.len(), sent.len(), "every line answered");
    assert_eq!(answered, sent);
}
