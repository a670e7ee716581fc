//! Readiness is asked only with a frame in hand: an idle connection holds no share of a
//! resource that readiness reserves, and while the application is not ready, nothing
//! more is read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager, Tendril};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{service_fn, Service, ServiceBuilder};

use crate::support::*;

fn echo() -> impl Service<Bytes, Response = Bytes, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(|line: Bytes| async move { Ok::<_, BoxError>(line) })
}

/// Two connections in turn: the first exchanges a line and stays open, idle; the
/// second must still be answered.
async fn idle_does_not_starve(addr: std::net::SocketAddr) {
    let mut idle = client(addr, b"first\r\n").await;
    assert_eq!(read_frames(&mut idle, "line", 1).await, ["first"]);
    let mut other = client(addr, b"second\r\nthird\r\n").await;
    assert_eq!(
        read_frames(&mut other, "line", 2).await,
        ["second", "third"]
    );
    // And the idle one still works once the other is idle in turn.
    idle.write_all(b"again\r\n").await.unwrap();
    assert_eq!(read_frames(&mut idle, "line", 1).await, ["again"]);
}

#[tokio::test]
async fn an_idle_connection_holds_no_permit_of_a_shared_concurrency_limit() {
    let limit = GlobalConcurrencyLimitLayer::new(1);
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(ServiceBuilder::new().layer(limit.clone()).service(echo()))
            }),
            NoWrapper,
        )
        .unwrap();
    idle_does_not_starve(addr).await;
    manager.shutdown();
}

#[tokio::test]
async fn an_idle_connection_holds_no_slot_of_a_shared_buffer() {
    // One service for all connections, behind a buffer with room for one request.
    let shared = tower::buffer::Buffer::new(echo(), 1);
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(shared.clone())
            }),
            NoWrapper,
        )
        .unwrap();
    idle_does_not_starve(addr).await;
    manager.shutdown();
}

/// An application that is not ready until told, counting its `poll_ready` calls.
#[derive(Clone)]
struct Gate {
    open: Arc<AtomicBool>,
    opened: Arc<Notify>,
}

impl Service<Bytes> for Gate {
    type Response = Bytes;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Bytes, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.open.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        // Woken when the gate opens.
        let waker = cx.waker().clone();
        let opened = self.opened.clone();
        tokio::spawn(async move {
            opened.notified().await;
            waker.wake();
        });
        Poll::Pending
    }

    fn call(&mut self, line: Bytes) -> Self::Future {
        std::future::ready(Ok(line))
    }
}

#[tokio::test]
async fn while_the_application_is_not_ready_one_frame_is_held_and_no_more_is_decoded() {
    let gate = Gate {
        open: Arc::new(AtomicBool::new(false)),
        opened: Arc::new(Notify::new()),
    };
    let app = gate.clone();
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(app.clone())
            }),
            NoWrapper,
        )
        .unwrap();
    let mut stream = client(addr, b"1\r\n2\r\n3\r\n4\r\n").await;
    // The first frame is decoded and waits for readiness; the rest stays undecoded.
    eventually(|| manager.stats().frames_in == 1).await;
    tokio::task::yield_now().await;
    assert_eq!(manager.stats().frames_in, 1);
    assert_eq!(manager.stats().frames_out, 0);
    gate.open.store(true, Ordering::Release);
    gate.opened.notify_waiters();
    assert_eq!(
        read_frames(&mut stream, "line", 4).await,
        ["1", "2", "3", "4"]
    );
    manager.shutdown();
}
