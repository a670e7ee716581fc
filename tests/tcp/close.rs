use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, CloseReason, Error, Manager, TcpManager, Tendril};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tower::service_fn;

use crate::support::*;

/// The application's own close reason, for `close_with`.
#[derive(Debug)]
struct Refusal(&'static str);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refusal {}

/// A line server whose application reacts to commands: `fail`, `panic`, `quit`,
/// `reject`; anything else is echoed. Each accepted connection's Tendril is sent to the test.
fn start(
    manager: TcpManager,
) -> (
    TcpManager,
    std::net::SocketAddr,
    mpsc::UnboundedReceiver<Tendril>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new().max_frame_length(32), LineFramer::new())?;
                tx.send(tendril.clone()).unwrap();
                Ok(service_fn(move |line: Bytes| {
                    let tendril = tendril.clone();
                    async move {
                        match &line[..] {
                            b"fail" => Err::<Option<Bytes>, BoxError>("told to fail".into()),
                            b"panic" => panic!("told to panic"),
                            b"quit" => {
                                // The goodbye is returned: it goes out, then the close.
                                tendril.close();
                                Ok(Some(Bytes::from("bye")))
                            }
                            b"reject" => {
                                tendril.close_with(Refusal("told to go"));
                                Ok(Some(Bytes::from("rejected")))
                            }
                            _ => Ok(Some(line)),
                        }
                    }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr, rx)
}

async fn reason_for(rx: &mut mpsc::UnboundedReceiver<Tendril>) -> (Tendril, CloseReason) {
    let tendril = within(rx.recv()).await.unwrap();
    let reason = within(tendril.closed()).await;
    (tendril, reason)
}

fn error_of(reason: &CloseReason) -> &Error {
    reason
        .as_error()
        .unwrap_or_else(|| panic!("expected an error, got {reason}"))
}

#[tokio::test]
async fn peer_end_of_stream_is_peer_closed() {
    let (manager, addr, mut rx) = start(TcpManager::new(localhost()));
    let mut stream = client(addr, b"hi\r\n").await;
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["hi"]);
    stream.shutdown().await.unwrap();
    let (tendril, reason) = reason_for(&mut rx).await;
    assert!(matches!(reason, CloseReason::PeerClosed), "{reason}");
    assert!(tendril.is_closed());
    assert!(tendril.send_frame("late").await.unwrap_err().is_closed());
    manager.shutdown();
}

#[tokio::test]
async fn reply_to_the_last_frame_is_written_after_peer_eof() {
    let (manager, addr, mut rx) = start(TcpManager::new(localhost()));
    let mut stream = client(addr, b"one\r\ntwo\r\n").await;
    stream.shutdown().await.unwrap();
    assert_eq!(read_to_end(&mut stream).await, b"one\r\ntwo\r\n");
    let (_, reason) = reason_for(&mut rx).await;
    assert!(matches!(reason, CloseReason::PeerClosed), "{reason}");
    manager.shutdown();
}

#[tokio::test]
async fn framer_error_closes_with_a_framing_error() {
    let (manager, addr, mut rx) = start(TcpManager::new(localhost()));
    let mut stream = client(addr, &[b'x'; 100]).await;
    let (_, reason) = reason_for(&mut rx).await;
    assert!(error_of(&reason).is_framing(), "{reason}");
    assert!(
        reason.to_string().contains("line longer than 32 bytes"),
        "{reason}"
    );
    read_until_closed(&mut stream).await;
    manager.shutdown();
}

#[tokio::test]
async fn application_error_and_panic_close_only_their_connection() {
    let (manager, addr, mut rx) = start(TcpManager::new(localhost()));
    let mut healthy = client(addr, b"before\r\n").await;
    let healthy_tendril = within(rx.recv()).await.unwrap();
    assert_eq!(read_frames(&mut healthy, "line", 1).await, ["before"]);

    let mut failing = client(addr, b"fail\r\n").await;
    let (_, reason) = reason_for(&mut rx).await;
    assert!(error_of(&reason).is_application(), "{reason}");
    assert!(reason.to_string().contains("told to fail"), "{reason}");
    read_until_closed(&mut failing).await;

    let mut panicking = client(addr, b"panic\r\n").await;
    let (_, reason) = reason_for(&mut rx).await;
    assert!(error_of(&reason).is_panic(), "{reason}");
    assert!(reason.to_string().contains("told to panic"), "{reason}");
    read_until_closed(&mut panicking).await;

    healthy.write_all(b"after\r\n").await.unwrap();
    assert_eq!(read_frames(&mut healthy, "line", 1).await, ["after"]);
    assert!(!healthy_tendril.is_closed());
    let stats = manager.stats();
    assert_eq!(stats.failed, 2);
    manager.shutdown();
}

#[tokio::test]
async fn local_close_flushes_what_was_queued_and_is_not_an_error() {
    let (manager, addr, mut rx) = start(TcpManager::new(localhost()));
    let mut stream = client(addr, b"a\r\nquit\r\nnever\r\n").await;
    assert_eq!(read_to_end(&mut stream).await, b"a\r\nbye\r\n");
    let (_, reason) = reason_for(&mut rx).await;
    assert!(matches!(reason, CloseReason::Local), "{reason}");
    assert!(!reason.is_error());
    manager.shutdown();
}

#[tokio::test]
async fn close_with_sends_the_reply_then_closes_with_the_applications_error() {
    let (manager, addr, mut rx) = start(TcpManager::new(localhost()));
    let mut stream = client(addr, b"a\r\nreject\r\nnever\r\n").await;
    assert_eq!(read_until_closed(&mut stream).await, b"a\r\nrejected\r\n");
    let (_, reason) = reason_for(&mut rx).await;
    let err = error_of(&reason);
    assert!(err.is_application(), "{reason}");
    assert_eq!(err.cause::<Refusal>().map(|r| r.0), Some("told to go"));
    assert_eq!(manager.stats().failed, 1);
    manager.shutdown();
}

#[tokio::test]
async fn on_close_callback_is_told() {
    let (manager, addr, mut rx) = start(TcpManager::new(localhost()));
    let stream = client(addr, b"").await;
    let tendril = within(rx.recv()).await.unwrap();
    let (tx, told) = tokio::sync::oneshot::channel();
    tendril.on_close(move |reason| {
        let _ = tx.send(reason);
    });
    drop(stream);
    let reason = within(told).await.unwrap();
    assert!(matches!(reason, CloseReason::PeerClosed), "{reason}");
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn idle_connections_time_out() {
    let manager = TcpManager::builder(localhost())
        .idle_timeout(Some(Duration::from_secs(5)))
        .build();
    let (manager, addr, mut rx) = start(manager);
    let mut stream = client(addr, b"").await;
    let (_, reason) = reason_for(&mut rx).await;
    assert!(matches!(reason, CloseReason::Idle), "{reason}");
    read_to_end(&mut stream).await;
    manager.shutdown();
}

/// A deadline of `Duration::MAX` means "never": every timer of the connection is set
/// far out without overflowing, and the connection serves and stays open.
#[tokio::test(start_paused = true)]
async fn deadlines_of_duration_max_mean_never() {
    let manager = TcpManager::builder(localhost())
        .idle_timeout(Some(Duration::MAX))
        .call_timeout(Some(Duration::MAX))
        .write_stall_timeout(Some(Duration::MAX))
        .read_rate(Some(tendril_net::ReadRate {
            min_bytes: 1024,
            window: Duration::MAX,
        }))
        .build();
    let (manager, addr, mut rx) = start(manager);
    // A partial line arms the read-rate window; a call arms the call timeout.
    let mut stream = client(addr, b"hello\r\nhal").await;
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["hello"]);
    let tendril = within(rx.recv()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(tendril.close_reason().is_none(), "still open an hour later");
    within(stream.write_all(b"f\r\n")).await.unwrap();
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["half"]);
    manager.shutdown();
}

/// Input that arrives after a local close is read and dropped (a lingering close), so
/// the kernel does not reset the connection and the last replies reach the peer.
#[tokio::test]
async fn closing_with_unread_input_still_delivers_the_last_reply() {
    let (manager, addr, _rx) = start(TcpManager::new(localhost()));
    for _ in 0..5 {
        let mut request = b"a\r\nquit\r\n".to_vec();
        request.extend(std::iter::repeat_n(b'z', 200_000));
        let mut stream = client(addr, &request).await;
        let mut replies = Vec::new();
        let outcome = within(stream.read_to_end(&mut replies)).await;
        assert!(outcome.is_ok(), "the connection was reset: {outcome:?}");
        assert_eq!(replies, b"a\r\nbye\r\n");
    }
    manager.shutdown();
}
