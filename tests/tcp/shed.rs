//! A full table does not lock newcomers out: the connection idle longest (past the
//! minimum, 2 s by default) is shed for a newcomer; active and busy connections never
//! are. Paused time: the seconds are virtual.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::service;
use tendril_net::{CloseReason, Manager, TcpManager, Tendril};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::support::*;

/// A line echo server holding at most `max` connections; "hang" starts a call that
/// never ends.
fn server(
    max: usize,
    after: Option<Duration>,
) -> (TcpManager, SocketAddr, mpsc::UnboundedReceiver<Tendril>) {
    let manager = TcpManager::builder(localhost())
        .max_connections(max)
        .shed_idle_after(after)
        .build();
    recording_server(manager, "line", || {
        service(|line: Bytes| async move {
            if line == "hang" {
                std::future::pending::<()>().await;
            }
            Ok(line)
        })
    })
}

async fn ask(stream: &mut TcpStream, line: &str) {
    within(stream.write_all(format!("{line}\r\n").as_bytes()))
        .await
        .unwrap();
    assert_eq!(read_frames(stream, "line", 1).await, [line]);
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_sheds_the_connection_idle_longest() {
    let max = 20;
    let (manager, addr, mut accepted) = server(max, Some(Duration::from_secs(2)));
    // One active connection, then 19 that say nothing (connected at the same virtual
    // instant: any of them may be the one shed).
    let mut active = TcpStream::connect(addr).await.unwrap();
    let active_tendril = within(accepted.recv()).await.unwrap();
    let mut idle = Vec::new();
    let mut idle_tendrils = Vec::new();
    for _ in 1..max {
        idle.push(TcpStream::connect(addr).await.unwrap());
        idle_tendrils.push(within(accepted.recv()).await.unwrap());
    }
    eventually(|| manager.stats().open == max as u64).await;
    // Three seconds pass; the active one talks throughout.
    for i in 0..6 {
        ask(&mut active, &format!("ping {i}")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A newcomer is served: the oldest idle connection made room.
    let mut newcomer = TcpStream::connect(addr).await.unwrap();
    ask(&mut newcomer, "hello").await;
    eventually(|| idle_tendrils.iter().any(|t| t.close_reason().is_some())).await;
    let gone: Vec<usize> = (0..idle.len())
        .filter(|&i| idle_tendrils[i].close_reason().is_some())
        .collect();
    assert_eq!(gone.len(), 1, "one idle connection made room");
    let reason = idle_tendrils[gone[0]].close_reason().unwrap();
    assert!(matches!(reason, CloseReason::Shed), "{reason}");
    assert_eq!(read_until_closed(&mut idle[gone[0]]).await, b"");
    let stats = manager.stats();
    assert_eq!((stats.shed_idle, stats.refused), (1, 0), "{stats}");
    ask(&mut active, "still here").await;
    assert!(active_tendril.close_reason().is_none());
    eventually(|| manager.stats().open == max as u64).await;
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn busy_active_and_recently_idle_connections_are_never_shed() {
    let (manager, addr, mut accepted) = server(2, Some(Duration::from_secs(2)));
    // One waits for a call that never ends (no traffic, but busy); one talks.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let busy_tendril = within(accepted.recv()).await.unwrap();
    within(busy.write_all(b"hang\r\n")).await.unwrap();
    let mut active = TcpStream::connect(addr).await.unwrap();
    let active_tendril = within(accepted.recv()).await.unwrap();
    for i in 0..10 {
        ask(&mut active, &format!("ping {i}")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A newcomer each time finds no one to shed.
        let mut newcomer = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_until_closed(&mut newcomer).await, b"");
    }
    let stats = manager.stats();
    assert_eq!((stats.shed_idle, stats.refused), (0, 10), "{stats}");
    assert!(busy_tendril.close_reason().is_none());
    assert!(active_tendril.close_reason().is_none());
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn without_shedding_a_full_table_refuses() {
    let (manager, addr, _accepted) = server(1, None);
    let _idle = TcpStream::connect(addr).await.unwrap();
    eventually(|| manager.stats().open == 1).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut newcomer = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_until_closed(&mut newcomer).await, b"");
    assert_eq!(manager.stats().refused, 1);
    manager.shutdown();
}
