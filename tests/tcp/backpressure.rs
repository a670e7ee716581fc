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
                Err(full @ TrySendError::Full(_)) => {
                    // The frame is handed back whole.
                    assert_eq!(full.into_frame(), frame);
                    return true;
                }
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

/// Starts a server that pushes 64 KiB frames to each client as fast as it takes them,
/// with `write_stall_timeout`; returns its connections as they come.
fn pushing_server(
    stall: Option<Duration>,
) -> (
    TcpManager,
    std::net::SocketAddr,
    mpsc::UnboundedReceiver<Tendril>,
) {
    let manager = TcpManager::builder(localhost())
        .write_stall_timeout(stall)
        .build();
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| {
                let pusher = tendril.clone();
                tokio::spawn(async move {
                    let frame = Bytes::from(vec![b'x'; 64 * 1024]);
                    while pusher.send_frame(frame.clone()).await.is_ok() {}
                });
                tx.send(tendril).unwrap();
                Ok(tendril_net::app::service(|_: Bytes| async { Ok(()) }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr, rx)
}

/// A peer that stops reading is closed once its output has not moved for the
/// write-stall timeout, with a reason that names it.
#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_is_closed_after_the_write_stall_timeout() {
    let (manager, addr, mut connections) = pushing_server(Some(Duration::from_secs(60)));
    let _stream = client(addr, b"").await;
    let tendril = within(connections.recv()).await.unwrap();
    let started = tokio::time::Instant::now();
    // Paused time: the bound is virtual, past the 60 s under test.
    let reason = tokio::time::timeout(Duration::from_secs(120), tendril.closed())
        .await
        .expect("closed within 120 s");
    let stalled = reason
        .as_error()
        .and_then(|err| err.cause::<tendril_net::WriteStalled>())
        .copied();
    assert_eq!(
        stalled.map(|s| s.after),
        Some(Duration::from_secs(60)),
        "{reason}"
    );
    assert!(started.elapsed() >= Duration::from_secs(60));
    assert_eq!(manager.stats().failed, 1);
    manager.shutdown();
}

/// A slow reader is not a stalled one: any progress restarts the count. Here the
/// reader takes 8 MiB every 300 ms against a 1 s timeout, for 3 s. (Progress is what
/// the server can see: the kernel reports its socket writable again only once much of
/// the send buffer has drained, so a reader taking a few KiB from megabytes of socket
/// buffers does look stalled.) Real time, not paused: the reads wait on real socket
/// progress, and paused time would jump to the next timer whenever the runtime waits
/// for the kernel, firing deadlines no real clock reaches.
#[tokio::test]
async fn a_slow_reader_is_not_cut_off() {
    use tokio::io::AsyncReadExt;
    let (manager, addr, mut connections) = pushing_server(Some(Duration::from_secs(1)));
    let mut stream = client(addr, b"").await;
    let tendril = within(connections.recv()).await.unwrap();
    let mut buf = vec![0u8; 8 << 20];
    let started = std::time::Instant::now();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        within(stream.read_exact(&mut buf)).await.unwrap();
        assert!(
            !tendril.is_closed(),
            "closed after {:?}",
            tendril.close_reason()
        );
    }
    assert!(started.elapsed() > Duration::from_secs(2));
    manager.shutdown();
}

/// Off: a peer that never reads holds its connection (the old behaviour, on request).
#[tokio::test(start_paused = true)]
async fn the_write_stall_timeout_can_be_turned_off() {
    let (manager, addr, mut connections) = pushing_server(None);
    let _stream = client(addr, b"").await;
    let tendril = within(connections.recv()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(!tendril.is_closed());
    manager.shutdown();
}
