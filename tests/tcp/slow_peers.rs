//! The read-rate guard: a frame being assembled must grow by `min_bytes` per window
//! (default 1 KiB per 10 s), or the connection closes with `ReadTooSlow`. Paused time:
//! the seconds are virtual.

use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::service;
use tendril_net::{Manager, ReadRate, ReadTooSlow, TcpManager, Tendril};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::support::*;

fn line_server(
    rate: Option<ReadRate>,
) -> (
    TcpManager,
    std::net::SocketAddr,
    mpsc::UnboundedReceiver<Tendril>,
) {
    let manager = TcpManager::builder(localhost()).read_rate(rate).build();
    recording_server(manager, "line", || {
        service(|line: Bytes| async move { Ok(line) })
    })
}

/// Sends `bytes` one at a time, `gap` apart (stops at the first failed write).
async fn trickle(stream: &mut tokio::net::TcpStream, bytes: &[u8], gap: Duration) {
    for byte in bytes {
        tokio::time::sleep(gap).await;
        if stream.write_all(&[*byte]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_slowloris_line_is_closed_within_two_windows() {
    let (manager, addr, mut connections) = line_server(Some(ReadRate::default()));
    let mut stream = client(addr, b"GET ").await;
    let tendril = within(connections.recv()).await.unwrap();
    let started = tokio::time::Instant::now();
    // One byte a second, never a line end.
    let closed = tendril.closed();
    tokio::select! {
        _ = trickle(&mut stream, &[b'x'; 100], Duration::from_secs(1)) => {}
        _ = tokio::time::sleep(Duration::from_secs(120)) => {}
    }
    let reason = tokio::time::timeout(Duration::from_secs(1), closed)
        .await
        .expect("closed while trickling");
    let slow = reason
        .as_error()
        .and_then(|err| err.cause::<ReadTooSlow>())
        .copied()
        .unwrap_or_else(|| panic!("{reason}"));
    assert!(slow.received < 1024, "{slow:?}");
    assert!(
        started.elapsed() <= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_frame_completes() {
    use tokio::io::AsyncReadExt;
    let (manager, addr, mut connections) = line_server(Some(ReadRate::default()));
    let mut stream = client(addr, b"").await;
    let tendril = within(connections.recv()).await.unwrap();
    // 3,000 bytes at 200 bytes a second (twice the minimum), 15 s in all.
    let line = vec![b'y'; 3000];
    for piece in line.chunks(200) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stream.write_all(piece).await.unwrap();
    }
    stream.write_all(b"\r\n").await.unwrap();
    let mut echoed = vec![0u8; 3002];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert!(!tendril.is_closed());
    manager.shutdown();
}

/// Nothing buffered is not a frame being assembled: an idle connection is left alone
/// (bounding idleness is the idle timeout's job), and so is every peer when the guard
/// is off.
#[tokio::test(start_paused = true)]
async fn idle_connections_and_the_switch_off() {
    let (manager, addr, mut connections) = line_server(Some(ReadRate::default()));
    let _idle = client(addr, b"done\r\n").await;
    let idle = within(connections.recv()).await.unwrap();
    let (off, off_addr, mut off_connections) = line_server(None);
    let mut trickling = client(off_addr, b"GET ").await;
    let unguarded = within(off_connections.recv()).await.unwrap();
    trickle(&mut trickling, &[b'x'; 60], Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(!idle.is_closed(), "{:?}", idle.close_reason());
    assert!(!unguarded.is_closed(), "{:?}", unguarded.close_reason());
    manager.shutdown();
    off.shutdown();
}
