use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::manager::{Bounds, Engine};
use tendril_net::wrap::NoWrapper;
use tendril_net::{
    Addr, BoxError, Connect, ConnectionConfig, Error, Manager, Registry, TcpManager, Tendril,
};
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
    let (local, remote) = (client_side.local().clone(), client_side.remote().clone());
    assert_eq!(remote, server.into());
    let found: Tendril = registry
        .find_tendril("tcp", (&local, &remote))
        .expect("the client side");
    assert_eq!(found.id(), client_side.id());
    let server_side: Tendril = registry
        .find_tendril("tcp", (&remote, &local))
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
    engine: Engine,
}

impl Manager for Loopback {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn loopback(endpoint: &Addr) -> Result<Arc<dyn Manager>, Error> {
    Ok(Arc::new(Loopback {
        engine: Engine::new(
            "loopback",
            endpoint.clone(),
            ConnectionConfig::default(),
            Bounds::new(16, None),
        ),
    }))
}

#[test]
fn third_parties_register_transports_by_name() {
    let registry = Registry::empty();
    assert!(registry
        .get_manager("tcp", localhost())
        .unwrap_err()
        .is_config());
    registry.register("loopback", loopback);
    let path = Addr::from(std::path::Path::new("/run/loop"));
    let manager: Loopback = registry.get("loopback", path.clone()).unwrap();
    assert_eq!(manager.endpoint(), &path);
    assert!(!manager.running());
    assert_eq!(manager.stats().open, 0);
    assert!(registry
        .get::<TcpManager>("loopback", path)
        .unwrap_err()
        .is_config());
    assert_eq!(registry.managers().len(), 1);
}

/// A transport whose factory gets a manager of another transport from the same
/// registry: the factory runs outside the registry's lock (it used to deadlock).
#[tokio::test]
async fn a_factory_may_use_the_registry_it_is_registered_in() {
    let registry = Arc::new(Registry::new());
    let inner = registry.clone();
    registry.register("tcp-alias", move |endpoint: &Addr| {
        inner.get_manager("tcp", endpoint.clone())
    });
    let addr = localhost();
    let (done, finished) = std::sync::mpsc::channel();
    let worker = registry.clone();
    std::thread::spawn(move || {
        let made = worker
            .get_manager("tcp-alias", addr)
            .map(|m| m.transport().to_owned());
        let _ = done.send(made);
    });
    let made = finished
        .recv_timeout(LIMIT)
        .expect("get_manager deadlocked");
    assert_eq!(made.unwrap(), "tcp");
}

#[tokio::test]
async fn a_manager_that_was_shut_down_is_replaced() {
    let registry = Registry::new();
    let addr = localhost();
    let first = registry.get_manager("tcp", addr).unwrap();
    first.shutdown();
    assert!(
        registry.managers().is_empty(),
        "a shut-down manager is not listed"
    );
    let second = registry.get_manager("tcp", addr).unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(Arc::ptr_eq(
        &second,
        &registry.get_manager("tcp", addr).unwrap()
    ));
}

#[test]
fn the_process_wide_registry_has_tcp() {
    let manager = tendril_net::get_manager("tcp", localhost()).unwrap();
    assert_eq!(manager.transport(), "tcp");
    assert!(!manager.running());
}

/// A plug-in transport may hold two connections between the same two addresses (a
/// reconnect before the old one finished closing): they are tracked apart.
#[tokio::test]
async fn connections_between_the_same_addresses_are_tracked_apart() {
    use tendril_net::framer::{FramerSwitch, LineFramer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let local = Addr::from(std::path::Path::new("/run/pair"));
    let remote = Addr::Unnamed(7);
    let manager = Loopback {
        engine: Engine::new(
            "loopback",
            local.clone(),
            ConnectionConfig::default(),
            Bounds::new(16, None),
        ),
    };
    let mut acceptor = acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
        Ok(service_fn(
            |line: Bytes| async move { Ok::<_, BoxError>(line) },
        ))
    });
    let mut serve = |io: tokio::io::DuplexStream| {
        manager.engine().serve(
            Box::pin(io),
            local.clone(),
            remote.clone(),
            FramerSwitch::symmetric(LineFramer::new()),
            &mut acceptor,
        )
    };
    let (io, mut old_peer) = tokio::io::duplex(1024);
    let (old, accepted) = serve(io);
    within(accepted).await.unwrap();
    let (io, mut new_peer) = tokio::io::duplex(1024);
    let (new, accepted) = serve(io);
    within(accepted).await.unwrap();
    assert_ne!(old.id(), new.id());
    assert_eq!(manager.stats().open, 2);
    assert_eq!(manager.connections().len(), 2);

    // The old one closes; its peer has not closed its end, so it lingers.
    old.close();
    let mut rest = Vec::new();
    within(old_peer.read_to_end(&mut rest)).await.unwrap();
    eventually(|| manager.stats().closing == 1).await;
    assert_eq!(
        manager.stats().open,
        2,
        "a closing connection is still held"
    );
    assert_eq!(manager.connections(), [(local.clone(), remote.clone())]);
    // Lookups find the live one, which still works.
    let found: Tendril = manager
        .tendril(local.clone(), remote.clone())
        .expect("found");
    assert_eq!(found.id(), new.id());
    new_peer.write_all(b"still here\r\n").await.unwrap();
    let mut reply = [0u8; 12];
    within(new_peer.read_exact(&mut reply)).await.unwrap();
    assert_eq!(&reply, b"still here\r\n");

    // The old peer goes: the old connection is gone, the new one stays.
    drop(old_peer);
    eventually(|| manager.stats().open == 1).await;
    assert_eq!(manager.stats().closing, 0);
    let found: Tendril = manager.tendril(local, remote).unwrap();
    assert_eq!(found.id(), new.id());
    manager.shutdown();
}
