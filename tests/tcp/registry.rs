use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::wrap::NoWrapper;
use tendril_net::{Addr, BoxError, Endpoint, Error, Manager, Registry, TcpManager, Tendril};
use tower::service_fn;

use crate::support::*;

#[tokio::test]
async fn one_manager_per_transport_and_endpoint() {
    let registry = Registry::new();
    let addr = localhost();
    let a = registry.get_manager("tcp", addr).unwrap();
    let b = registry.get_manager("tcp", addr).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let other = registry
        .get_manager("tcp", "127.0.0.1:1".parse::<SocketAddr>().unwrap())
        .unwrap();
    assert!(!Arc::ptr_eq(&a, &other));
    assert!(registry
        .get_manager("carrier-pigeon", addr)
        .unwrap_err()
        .is_config());
    assert!(registry
        .get_manager("tcp", std::path::Path::new("/tmp/x"))
        .unwrap_err()
        .is_config());
}

#[tokio::test]
async fn find_tendril_through_the_registry() {
    let registry = Registry::new();
    let manager: TcpManager = registry.get("tcp", localhost()).unwrap();
    let server = manager
        .start(
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|frame: Bytes| async move {
                    Ok::<_, BoxError>(frame)
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    // A client from the same manager's endpoint: connect returns its Tendril.
    let client_side = manager
        .connect(
            server,
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
            }),
            NoWrapper,
        )
        .await
        .unwrap();
    let (local, remote) = (client_side.local_addr(), client_side.remote_addr());
    assert_eq!(remote, server);
    let found: Tendril = registry
        .find_tendril("tcp", (local, remote))
        .expect("the client side");
    assert_eq!(found.id(), client_side.id());
    let server_side: Tendril = registry
        .find_tendril("tcp", (remote, local))
        .expect("the server side");
    assert_ne!(server_side.id(), client_side.id());
    assert!(registry
        .find_tendril::<Bytes, Bytes>("udp", (local, remote))
        .is_none());
    manager.shutdown();
}

/// A third-party transport, written only against the public plug-in interface.
#[derive(Debug, Clone)]
struct Loopback {
    endpoint: Endpoint,
}

impl Manager for Loopback {
    fn transport(&self) -> &str {
        "loopback"
    }
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn running(&self) -> bool {
        false
    }
    fn stop(&self) {}
    fn shutdown(&self) {}
    fn graceful_shutdown(
        &self,
        _: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> {
        Box::pin(async { true })
    }
    fn stats(&self) -> tendril_net::Stats {
        tendril_net::Stats::default()
    }
    fn connection(&self, _: &Addr, _: &Addr) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        None
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[test]
fn third_parties_register_transports_by_name() {
    let registry = Registry::empty();
    assert!(registry
        .get_manager("tcp", localhost())
        .unwrap_err()
        .is_config());
    registry.register(
        "loopback",
        |endpoint: &Endpoint| -> Result<Arc<dyn Manager>, Error> {
            Ok(Arc::new(Loopback {
                endpoint: endpoint.clone(),
            }))
        },
    );
    let path = Endpoint::from(std::path::Path::new("/run/loop"));
    let manager: Loopback = registry.get("loopback", path.clone()).unwrap();
    assert_eq!(manager.endpoint, path);
    assert!(registry
        .get::<TcpManager>("loopback", path)
        .unwrap_err()
        .is_config());
    assert_eq!(registry.managers().len(), 1);
}

#[test]
fn the_process_wide_registry_has_tcp() {
    let manager = tendril_net::get_manager("tcp", localhost()).unwrap();
    assert_eq!(manager.transport(), "tcp");
    assert!(!manager.running());
}
