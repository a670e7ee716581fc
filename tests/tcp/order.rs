//! Reply order: request order by default, completion order when chosen.

use std::sync::Arc;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, ReplyOrder, TcpManager, Tendril};
use tokio::sync::{mpsc, Notify};
use tower::service_fn;

use crate::support::*;

/// A pipelining line server: `slow` waits for `release`, anything else answers at once;
/// each call reports its line on `called`.
fn start(
    order: ReplyOrder,
    release: Arc<Notify>,
) -> (
    TcpManager,
    std::net::SocketAddr,
    mpsc::UnboundedReceiver<Bytes>,
) {
    let (called, calls) = mpsc::unbounded_channel();
    let manager = TcpManager::builder(localhost())
        .max_in_flight(8)
        .reply_order(order)
        .build();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                let (called, release) = (called.clone(), release.clone());
                Ok(service_fn(move |line: Bytes| {
                    let _ = called.send(line.clone());
                    let release = release.clone();
                    async move {
                        if line == "slow" {
                            release.notified().await;
                        }
                        Ok::<_, BoxError>(line)
                    }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr, calls)
}

#[tokio::test]
async fn completion_order_answers_a_fast_request_before_a_slow_one() {
    let release = Arc::new(Notify::new());
    let (manager, addr, mut calls) = start(ReplyOrder::Completion, release.clone());
    let mut stream = client(addr, b"slow\r\nfast\r\n").await;
    // The fast reply arrives while the slow call is still waiting.
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["fast"]);
    assert_eq!(within(calls.recv()).await.unwrap(), "slow");
    release.notify_one();
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["slow"]);
    manager.shutdown();
}

#[tokio::test]
async fn request_order_holds_a_finished_reply_behind_an_unfinished_one() {
    let release = Arc::new(Notify::new());
    let (manager, addr, mut calls) = start(ReplyOrder::Request, release.clone());
    let mut stream = client(addr, b"slow\r\nfast\r\n").await;
    // Both calls were made: `fast` is done before `slow` is released.
    assert_eq!(within(calls.recv()).await.unwrap(), "slow");
    assert_eq!(within(calls.recv()).await.unwrap(), "fast");
    release.notify_one();
    assert_eq!(read_frames(&mut stream, "line", 2).await, ["slow", "fast"]);
    manager.shutdown();
}
