use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager, Tendril, TrySendError};
use tokio::sync::mpsc;
use tower::service_fn;

use crate::support::*;

/// A peer that never reads: the application pushes frames until the outbound queue
/// and the socket buffers are full; then `try_send_frame` reports full and
/// `send_frame` waits, instead of memory growing.
#[tokio::test]
async fn a_peer_that_never_reads_fills_the_queue_not_the_memory() {
    let manager = TcpManager::builder(localhost()).outbound_queue(16).build();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tx.send(tendril).unwrap();
                Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
            }),
            NoWrapper,
        )
        .unwrap();
    let _stream = client(addr, b"").await;
    let tendril = within(rx.recv()).await.unwrap();
    let frame = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut queued = 0u64;
    let full = within(async {
        // Bounded: 64 MiB would be far more than any loopback socket buffers hold.
        for _ in 0..1024 {
            match tendril.try_send_frame(frame.clone()) {
                Ok(()) => queued += 1,
                Err(TrySendError::Full(_)) => return true,
                Err(TrySendError::Closed(_)) => panic!("closed"),
            }
            tokio::task::yield_now().await;
        }
        false
    })
    .await;
    assert!(full, "the queue never filled after {queued} frames");
    // Full now: the async send waits.
    let waited = tokio::time::timeout(
        Duration::from_millis(200),
        tendril.send_frame(frame.clone()),
    )
    .await;
    assert!(
        waited.is_err(),
        "send_frame should wait while the queue is full"
    );
    manager.shutdown();
}
