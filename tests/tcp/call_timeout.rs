//! The built-in call timeout, with paused time.

use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, CallTimeout, Manager, ReplyOrder, TcpManager, Tendril};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tower::service_fn;

use crate::support::*;

/// A line server whose `hang` never completes; other lines are echoed.
fn start(
    order: ReplyOrder,
) -> (
    TcpManager,
    std::net::SocketAddr,
    mpsc::UnboundedReceiver<Tendril>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let manager = TcpManager::builder(localhost())
        .max_in_flight(4)
        .reply_order(order)
        .call_timeout(Some(Duration::from_secs(5)))
        .build();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                tx.send(tendril).unwrap();
                Ok(service_fn(|line: Bytes| async move {
                    if line == "hang" {
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, BoxError>(line)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr, rx)
}

#[tokio::test(start_paused = true)]
async fn in_request_order_a_call_over_the_timeout_closes_the_connection() {
    let (manager, addr, mut rx) = start(ReplyOrder::Request);
    let mut stream = client(addr, b"a\r\nhang\r\nb\r\n").await;
    let tendril = within(rx.recv()).await.unwrap();
    let started = tokio::time::Instant::now();
    let reason = within(tendril.closed()).await;
    let err = reason.as_error().expect("an error");
    assert!(err.is_timeout(), "{reason}");
    assert_eq!(
        err.cause::<CallTimeout>().map(|t| t.after),
        Some(Duration::from_secs(5))
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    // `b` was answered? No: in request order it waits behind `hang`, and the
    // connection closes with what was written before.
    assert_eq!(read_until_closed(&mut stream).await, b"a\r\n");
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn in_completion_order_only_the_late_call_is_dropped() {
    let (manager, addr, mut rx) = start(ReplyOrder::Completion);
    let mut stream = client(addr, b"hang\r\nfast\r\n").await;
    let tendril = within(rx.recv()).await.unwrap();
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["fast"]);
    eventually(|| manager.stats().call_timeouts == 1).await;
    // The connection goes on.
    stream.write_all(b"after\r\n").await.unwrap();
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["after"]);
    assert!(!tendril.is_closed());
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn calls_that_finish_in_time_are_not_touched() {
    let (manager, addr, mut rx) = start(ReplyOrder::Request);
    let mut stream = client(addr, b"").await;
    let tendril = within(rx.recv()).await.unwrap();
    for round in 0..3 {
        let line = format!("line {round}\r\n");
        stream.write_all(line.as_bytes()).await.unwrap();
        assert_eq!(read_frames(&mut stream, "line", 1).await.len(), 1);
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    assert!(!tendril.is_closed());
    assert_eq!(manager.stats().call_timeouts, 0);
    manager.shutdown();
}
