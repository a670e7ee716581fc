use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::{acceptor_fn, RejectConnection};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, CloseReason, Manager, TcpManager, Tendril};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tower::service_fn;

use crate::support::*;

#[tokio::test]
async fn connections_over_the_limit_are_refused_and_counted() {
    let manager = TcpManager::builder(localhost()).max_connections(2).build();
    let (manager, addr) = echo_server(manager, "line");
    let mut first = client(addr, b"1\r\n").await;
    let mut second = client(addr, b"2\r\n").await;
    assert_eq!(read_frames(&mut first, "line", 1).await, ["1"]);
    assert_eq!(read_frames(&mut second, "line", 1).await, ["2"]);
    let mut third = client(addr, b"3\r\n").await;
    assert_eq!(
        read_until_closed(&mut third).await,
        b"",
        "refused connections are closed at once"
    );
    assert_eq!(manager.stats().refused, 1);
    // Below the limit again, new connections are served.
    drop(first);
    eventually(|| manager.stats().open < 2).await;
    let mut fourth = client(addr, b"4\r\n").await;
    assert_eq!(read_frames(&mut fourth, "line", 1).await, ["4"]);
    manager.shutdown();
}

/// A line echo server holding at most two connections (`shed` as configured), with
/// two peers whose never-ending lines it closed: they linger, as peers that never
/// close do.
async fn two_lingering(
    shed: Option<Duration>,
) -> (TcpManager, std::net::SocketAddr, [TcpStream; 2]) {
    let manager = TcpManager::builder(localhost())
        .max_connections(2)
        .shed_idle_after(shed)
        .build();
    let (manager, addr) = echo_server(manager, "line");
    let endless = vec![b'x'; 70 * 1024];
    let mut first = client(addr, &endless).await;
    let mut second = client(addr, &endless).await;
    assert_eq!(read_until_closed(&mut first).await, b"");
    assert_eq!(read_until_closed(&mut second).await, b"");
    eventually(|| manager.stats().closing == 2).await;
    (manager, addr, [first, second])
}

/// A connection the server closed still holds its socket until the peer lets go (or
/// `linger` passes): it counts against `max_connections` until then, so peers that
/// never close cannot take more sockets than the bound. (Without shedding: with
/// it, a newcomer takes a lingering connection's place, see the next test.)
#[tokio::test]
async fn closing_connections_count_against_the_limit() {
    let (manager, addr, [first, second]) = two_lingering(None).await;
    assert_eq!(manager.stats().open, 2);
    assert_eq!(manager.stats().failed, 2);
    assert!(manager.connections().is_empty(), "none is open for lookups");
    let mut third = client(addr, b"3\r\n").await;
    assert_eq!(read_until_closed(&mut third).await, b"");
    assert_eq!(manager.stats().refused, 1);
    // One lets go: there is room again.
    drop(first);
    eventually(|| manager.stats().open == 1).await;
    let mut fourth = client(addr, b"4\r\n").await;
    assert_eq!(read_frames(&mut fourth, "line", 1).await, ["4"]);
    drop(second);
    manager.shutdown();
}

/// With the table full of connections that closed and only linger for their peers'
/// end, a newcomer takes the place of one of them at once.
#[tokio::test]
async fn a_newcomer_sheds_a_lingering_connection() {
    let (manager, addr, lingering) = two_lingering(Some(Duration::from_secs(2))).await;
    let mut third = client(addr, b"3\r\n").await;
    assert_eq!(read_frames(&mut third, "line", 1).await, ["3"]);
    let stats = manager.stats();
    assert_eq!((stats.shed_idle, stats.refused), (1, 0), "{stats}");
    eventually(|| manager.stats().closing == 1).await;
    drop(lingering);
    manager.shutdown();
}

#[tokio::test]
async fn rejected_connections_are_closed_quietly_and_counted() {
    let manager = TcpManager::new(localhost());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tx.send(tendril).unwrap();
                Err::<
                    tower::util::ServiceFn<fn(Bytes) -> std::future::Ready<Result<(), BoxError>>>,
                    _,
                >(RejectConnection::because("not today").into())
            }),
            NoWrapper,
        )
        .unwrap();
    let mut stream = client(addr, b"hello\r\n").await;
    assert_eq!(read_until_closed(&mut stream).await, b"");
    let tendril = within(rx.recv()).await.unwrap();
    let reason = within(tendril.closed()).await;
    assert!(matches!(reason, CloseReason::Rejected), "{reason}");
    assert_eq!(manager.stats().rejected, 1);
    assert_eq!(manager.stats().frames_in, 0);
    manager.shutdown();
}

#[tokio::test]
async fn acceptor_may_close_before_the_first_frame() {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.close();
                Ok(service_fn(|frame: Bytes| async move {
                    Ok::<_, BoxError>(frame)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut stream = client(addr, b"ignored").await;
    assert_eq!(read_until_closed(&mut stream).await, b"");
    // The server lingers, reading what the client sends, until the client hangs up.
    drop(stream);
    eventually(|| manager.stats().open == 0).await;
    assert_eq!(manager.stats().frames_in, 0);
    manager.shutdown();
}

#[tokio::test]
async fn a_panicking_acceptor_fails_one_connection_not_the_listener() {
    let manager = TcpManager::new(localhost());
    let first = std::sync::atomic::AtomicBool::new(true);
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    panic!("acceptor bug");
                }
                tendril.set_framers(
                    tendril_net::framer::LineFramer::new(),
                    tendril_net::framer::LineFramer::new(),
                )?;
                Ok(service_fn(|frame: Bytes| async move {
                    Ok::<_, BoxError>(frame)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut doomed = client(addr, b"x\r\n").await;
    assert_eq!(read_until_closed(&mut doomed).await, b"");
    let mut fine = client(addr, b"still here\r\n").await;
    assert_eq!(read_frames(&mut fine, "line", 1).await, ["still here"]);
    assert_eq!(manager.stats().failed, 1);
    manager.shutdown();
}
