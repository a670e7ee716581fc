use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, CloseReason, Manager, TcpManager, Tendril};
use tokio::sync::mpsc;
use tower::{service_fn, ServiceBuilder};

use crate::support::*;

/// A `ServiceBuilder` stack with timeout, concurrency limit, rate limit and load
/// shedding is an application unchanged.
#[tokio::test]
async fn tower_middleware_stack_as_application() {
    let manager = TcpManager::builder(localhost()).max_in_flight(8).build();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                tx.send(tendril).unwrap();
                let app = ServiceBuilder::new()
                    .load_shed()
                    .concurrency_limit(4)
                    .rate_limit(1000, Duration::from_secs(1))
                    .timeout(Duration::from_millis(500))
                    .service(service_fn(|line: Bytes| async move {
                        if line == "slow" {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                        Ok::<_, BoxError>(line)
                    }));
                Ok(app)
            }),
            NoWrapper,
        )
        .unwrap();
    let mut stream = client(addr, b"a\r\nb\r\nc\r\n").await;
    assert_eq!(read_frames(&mut stream, "line", 3).await, ["a", "b", "c"]);
    let tendril = within(rx.recv()).await.unwrap();
    // The timeout layer's error closes this connection with an application error.
    use tokio::io::AsyncWriteExt;
    stream.write_all(b"slow\r\n").await.unwrap();
    let reason = within(tendril.closed()).await;
    let CloseReason::Error(err) = &reason else {
        panic!("expected an error, got {reason}");
    };
    assert!(err.is_application());
    let cause = std::error::Error::source(&**err).unwrap();
    assert!(
        cause
            .downcast_ref::<tower::timeout::error::Elapsed>()
            .is_some(),
        "{cause}"
    );
    manager.shutdown();
}

/// A bare `service_fn` is an application, and `tower::service_fn` with an async
/// closure is an acceptor.
#[tokio::test]
async fn bare_service_fn_application_and_async_acceptor() {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            service_fn(|tendril: Tendril| async move {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok::<_, BoxError>(service_fn(|line: Bytes| async move {
                    Ok::<_, BoxError>(Bytes::from(line.to_ascii_uppercase()))
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut stream = client(addr, b"shout\r\n").await;
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["SHOUT"]);
    manager.shutdown();
}
