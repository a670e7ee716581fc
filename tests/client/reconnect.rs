//! A client that reconnects through `tower::reconnect` after the server restarts.

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::client::Client;
use tendril_net::framer::{FramerSwitch, LineFramer};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager, Tendril};
use tower::reconnect::Reconnect;
use tower::{service_fn, Service, ServiceExt};

use crate::support::{localhost, within};

fn start_server(
    addr: std::net::SocketAddr,
    name: &'static str,
) -> (TcpManager, std::net::SocketAddr) {
    let manager = TcpManager::new(addr);
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service_fn(move |line: Bytes| async move {
                    Ok::<_, BoxError>(Bytes::from(format!(
                        "{name}: {}",
                        String::from_utf8_lossy(&line)
                    )))
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr)
}

#[tokio::test]
async fn reconnects_after_the_server_restarts() {
    let (first, addr) = start_server(localhost(), "first");
    let maker =
        Client::<Bytes>::pipelined().into_maker(TcpManager::new(localhost()), NoWrapper, || {
            FramerSwitch::symmetric(LineFramer::new())
        });
    let mut client = Reconnect::new(maker, addr);
    let answer = within(client.ready())
        .await
        .unwrap()
        .call(Bytes::from("one"));
    assert_eq!(within(answer).await.unwrap(), "first: one");

    // The server goes away: the connection closes; while it is down requests fail.
    first.shutdown();
    within(first.graceful_shutdown(std::time::Duration::from_secs(1))).await;
    let mut failures = 0;
    let answer = loop {
        let call = within(client.ready())
            .await
            .unwrap()
            .call(Bytes::from("two"));
        match within(call).await {
            Ok(answer) => break answer,
            Err(_) if failures < 100 => {
                failures += 1;
                if failures == 1 {
                    // Back on the same port.
                    let _ = start_server(addr, "second");
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(err) => panic!("never reconnected: {err}"),
        }
    };
    assert_eq!(answer, "second: two");
    assert!(
        failures >= 1,
        "the first attempt after the restart saw the closed connection"
    );
}
