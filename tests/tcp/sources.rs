//! Per-source limits and fair admission over real loopback sockets: clients bound to
//! 127.0.0.2 and 127.0.0.3 are two sources (Linux routes all of 127/8 to loopback).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::service;
use tendril_net::manager::SourceRate;
use tendril_net::{CloseReason, Manager, TcpManager, Tendril};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

use crate::support::*;

/// A connection to `addr` from source address `from`.
pub async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    within(socket.connect(addr)).await.unwrap()
}

/// A line echo server.
fn server(manager: TcpManager) -> (TcpManager, SocketAddr, mpsc::UnboundedReceiver<Tendril>) {
    recording_server(manager, "line", || {
        service(|line: Bytes| async move { Ok(line) })
    })
}

async fn ask(stream: &mut TcpStream, line: &str) {
    within(stream.write_all(format!("{line}\r\n").as_bytes()))
        .await
        .unwrap();
    assert_eq!(read_frames(stream, "line", 1).await, [line]);
}

#[tokio::test]
async fn a_source_beyond_its_limit_is_refused_others_are_served() {
    let manager = TcpManager::builder(localhost())
        .max_per_source(Some(3))
        .build();
    let (manager, addr, mut accepted) = server(manager);
    let mut held = Vec::new();
    for i in 0..3 {
        let mut stream = connect_from("127.0.0.2", addr).await;
        ask(&mut stream, &format!("hello {i}")).await;
        held.push(stream);
    }
    // The fourth from 127.0.0.2 is closed at once, before any echo.
    let mut fourth = connect_from("127.0.0.2", addr).await;
    let _ = fourth.write_all(b"refused?\r\n").await;
    assert_eq!(read_until_closed(&mut fourth).await, b"");
    assert_eq!(manager.stats().refused_source, 1, "{}", manager.stats());
    // Another source is unaffected.
    let mut other = connect_from("127.0.0.3", addr).await;
    ask(&mut other, "other").await;
    // A slot freed is usable at once.
    let first = within(accepted.recv()).await.unwrap();
    drop(held.remove(0));
    within(first.closed()).await;
    eventually(|| manager.stats().open == 3).await;
    let mut again = connect_from("127.0.0.2", addr).await;
    ask(&mut again, "again").await;
    for stream in &mut held {
        ask(stream, "still here").await;
    }
    let stats = manager.stats();
    assert_eq!((stats.refused_source, stats.refused), (1, 0), "{stats}");
    manager.shutdown();
}

/// A full table is shared: a newcomer from a source holding little displaces a
/// connection of the source holding the most, however young its connections are (no
/// idle shedding here), and that source's own newcomers are refused.
#[tokio::test]
async fn a_full_table_makes_room_for_a_small_source() {
    let manager = TcpManager::builder(localhost())
        .max_connections(10)
        .shed_idle_after(None)
        .build();
    let (manager, addr, mut accepted) = server(manager);
    let mut big = Vec::new();
    let mut big_tendrils = Vec::new();
    for i in 0..10 {
        let mut stream = connect_from("127.0.0.2", addr).await;
        ask(&mut stream, &format!("mine {i}")).await;
        big.push(stream);
        big_tendrils.push(within(accepted.recv()).await.unwrap());
    }
    // The big source's own newcomer: refused (one source alone, nothing idle to shed).
    let mut refused = connect_from("127.0.0.2", addr).await;
    assert_eq!(read_until_closed(&mut refused).await, b"");
    // Newcomers from two other sources are served.
    for from in ["127.0.0.3", "127.0.0.4"] {
        let mut small = connect_from(from, addr).await;
        ask(&mut small, from).await;
        big.push(small);
    }
    eventually(|| {
        big_tendrils
            .iter()
            .filter(|t| matches!(t.close_reason(), Some(CloseReason::Shed)))
            .count()
            == 2
    })
    .await;
    // Now above its share (10 among 3 sources), the big source is refused again.
    eventually(|| manager.stats().open == 10).await;
    let mut refused = connect_from("127.0.0.2", addr).await;
    assert_eq!(read_until_closed(&mut refused).await, b"");
    let stats = manager.stats();
    assert_eq!((stats.shed_idle, stats.refused), (2, 2), "{stats}");
    manager.shutdown();
}

/// A rate per source: a token bucket, refilled as time passes (paused: virtual time).
#[tokio::test(start_paused = true)]
async fn a_source_opening_too_fast_is_refused_until_its_bucket_refills() {
    let manager = TcpManager::builder(localhost())
        .source_rate(Some(SourceRate::new(2, 2)))
        .build();
    let (manager, addr, _accepted) = server(manager);
    for i in 0..2 {
        let mut stream = connect_from("127.0.0.2", addr).await;
        ask(&mut stream, &format!("quick {i}")).await;
    }
    let mut third = connect_from("127.0.0.2", addr).await;
    assert_eq!(read_until_closed(&mut third).await, b"");
    let mut other = connect_from("127.0.0.3", addr).await;
    ask(&mut other, "other").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut later = connect_from("127.0.0.2", addr).await;
    ask(&mut later, "later").await;
    assert_eq!(manager.stats().refused_source, 1);
    manager.shutdown();
}
