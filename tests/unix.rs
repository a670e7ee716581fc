//! Unix stream sockets through the plug-in transport.
#![cfg(unix)]

mod support;

use std::path::PathBuf;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{Addr, BoxError, Connect, Manager, Registry, Tendril, UnixManager};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use support::{eventually, within};
use tokio::sync::mpsc;
use tower::service_fn;

/// A socket path unique to this test run.
fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tendril-{}-{name}.sock", std::process::id()))
}

fn echo(manager: &UnixManager) {
    manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service_fn(
                    |line: Bytes| async move { Ok::<_, BoxError>(line) },
                ))
            }),
            NoWrapper,
        )
        .unwrap();
}

#[tokio::test]
async fn echo_over_a_unix_socket_and_the_file_is_removed_on_shutdown() {
    let path = socket_path("echo");
    let manager = UnixManager::new(path.clone());
    echo(&manager);
    assert!(manager.running());
    let mut stream = within(UnixStream::connect(&path)).await.unwrap();
    stream.write_all(b"over unix\r\n").await.unwrap();
    let mut reply = [0u8; 11];
    within(stream.read_exact(&mut reply)).await.unwrap();
    assert_eq!(&reply, b"over unix\r\n");
    let connections = manager.connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].0, Addr::from(path.as_path()));
    assert!(matches!(connections[0].1, Addr::Unnamed(_)));
    let tendril: Tendril = manager
        .tendril(&connections[0].0, &connections[0].1)
        .expect("tracked");
    assert_eq!(tendril.transport(), "unix");
    manager.shutdown();
    // Removed when the accept loop ends, right after.
    eventually(|| !path.exists()).await;
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced_and_a_live_one_refused() {
    let path = socket_path("stale");
    // A socket file nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let manager = UnixManager::new(path.clone());
    echo(&manager);
    // A second server at the same path: it is in use.
    let second = UnixManager::new(path.clone());
    let err = second
        .start(
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
            }),
            NoWrapper,
        )
        .unwrap_err();
    assert!(err.is_io(), "{err:?}");
    let mut stream = within(UnixStream::connect(&path)).await.unwrap();
    stream.write_all(b"still the first\r\n").await.unwrap();
    let mut reply = [0u8; 17];
    within(stream.read_exact(&mut reply)).await.unwrap();
    assert_eq!(&reply, b"still the first\r\n");
    manager.shutdown();
}

#[tokio::test]
async fn connect_through_the_registry_and_receive_replies() {
    let path = socket_path("connect");
    let registry = Registry::new();
    let server: UnixManager = registry.get("unix", path.as_path()).unwrap();
    echo(&server);
    let client = UnixManager::new(socket_path("client-unused"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tendril = client
        .connect(
            path.clone(),
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                let tx = tx.clone();
                Ok(service_fn(move |line: Bytes| {
                    tx.send(line).unwrap();
                    async { Ok::<_, BoxError>(()) }
                }))
            }),
            NoWrapper,
        )
        .await
        .unwrap();
    assert_eq!(tendril.remote(), &Addr::from(path.as_path()));
    tendril.send_frame("round trip").await.unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), "round trip");
    assert_eq!(server.stats().frames_in, 1);
    assert_eq!(server.transport(), "unix");
    client.shutdown();
    server.shutdown();
}

#[tokio::test]
async fn a_pipelined_client_over_a_unix_socket() {
    use tendril_net::client::Client;
    use tendril_net::framer::FramerSwitch;
    use tower::{Service, ServiceExt};

    let path = socket_path("client");
    let server = UnixManager::new(path.clone());
    echo(&server);
    let client_side = UnixManager::new(socket_path("client-side"));
    let mut client = within(Client::<Bytes>::pipelined().connect(
        &client_side,
        path.clone(),
        NoWrapper,
        FramerSwitch::symmetric(LineFramer::new()),
    ))
    .await
    .unwrap();
    let mut calls = Vec::new();
    for i in 0..10 {
        let call = within(client.ready())
            .await
            .unwrap()
            .call(Bytes::from(format!("line {i}")));
        calls.push(call);
    }
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(within(call).await.unwrap(), format!("line {i}"));
    }
    server.shutdown();
}

#[tokio::test]
async fn a_regular_file_at_the_path_is_left_intact() {
    let path = socket_path("regular");
    std::fs::write(&path, b"precious").unwrap();
    let manager = UnixManager::new(path.clone());
    let err = manager
        .start(
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
            }),
            NoWrapper,
        )
        .unwrap_err();
    assert!(err.is_io(), "{err:?}");
    assert!(!manager.running());
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn stopping_a_server_leaves_a_newer_servers_socket_in_place() {
    let path = socket_path("succession");
    let first = UnixManager::new(path.clone());
    echo(&first);
    // Someone moves the first server's file away and a second server binds the path.
    let moved = socket_path("succession-old");
    std::fs::rename(&path, &moved).unwrap();
    let second = UnixManager::new(path.clone());
    echo(&second);
    first.shutdown();
    within(first.graceful_shutdown(std::time::Duration::from_secs(1))).await;
    // The first removes nothing of the second's; the second still answers.
    let mut stream = within(UnixStream::connect(&path)).await.unwrap();
    stream.write_all(b"second\r\n").await.unwrap();
    let mut reply = [0u8; 8];
    within(stream.read_exact(&mut reply)).await.unwrap();
    assert_eq!(&reply, b"second\r\n");
    second.shutdown();
    eventually(|| !path.exists()).await;
    let _ = std::fs::remove_file(&moved);
}

#[tokio::test]
async fn the_socket_file_gets_the_configured_mode() {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path("mode");
    let manager = UnixManager::builder(path.clone())
        .socket_mode(0o600)
        .build();
    echo(&manager);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    manager.shutdown();
}

#[tokio::test]
async fn the_tendril_knows_the_peer_process() {
    let path = socket_path("creds");
    let manager = UnixManager::new(path.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tx.send(tendril.peer_credentials()).unwrap();
                Ok(service_fn(|_: Bytes| async { Ok::<_, BoxError>(()) }))
            }),
            NoWrapper,
        )
        .unwrap();
    let _stream = within(UnixStream::connect(&path)).await.unwrap();
    let creds = within(rx.recv()).await.unwrap().expect("credentials");
    // This process is the peer.
    let me = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    if let Ok(uid) = me {
        assert_eq!(creds.uid, uid);
    }
    assert_eq!(creds.pid, Some(std::process::id() as i32));
    manager.shutdown();
}

/// Over Unix sockets a source is the peer's uid: this process's connections share one.
#[tokio::test]
async fn a_uid_beyond_its_limit_is_refused() {
    let path = socket_path("per-uid");
    let manager = UnixManager::builder(path.clone())
        .max_per_source(Some(2))
        .build();
    echo(&manager);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = within(UnixStream::connect(&path)).await.unwrap();
        stream.write_all(b"mine\r\n").await.unwrap();
        let mut reply = [0u8; 6];
        within(stream.read_exact(&mut reply)).await.unwrap();
        held.push(stream);
    }
    let mut third = within(UnixStream::connect(&path)).await.unwrap();
    let _ = third.write_all(b"third\r\n").await;
    let mut rest = Vec::new();
    let _ = within(third.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "refused before any echo");
    assert_eq!(manager.stats().refused_source, 1);
    manager.shutdown();
}
