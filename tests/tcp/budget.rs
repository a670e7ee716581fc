//! The memory budget across all of a manager's connections: under pressure no
//! connection grows past its fair share, the largest holders are shed, the others are
//! served, and every byte counted is given back.

use bytes::Bytes;
use std::net::SocketAddr;
use tendril_net::app::{acceptor_fn, service};
use tendril_net::wrap::NoWrapper;
use tendril_net::{CloseReason, Manager, MemoryBudget, TcpManager, Tendril};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::support::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// A length-u32 echo server with a budget of `budget` bytes; its connections come
/// out of the receiver in the order accepted.
fn server(budget: usize) -> (TcpManager, SocketAddr, mpsc::UnboundedReceiver<Tendril>) {
    let manager = TcpManager::builder(localhost())
        .memory_budget(budget)
        .build();
    recording_server(manager, "length-u32", || {
        service(|frame: Bytes| async move { Ok(frame) })
    })
}

/// A frame header announcing `len` bytes, then `body` bytes of it.
fn partial(len: usize, body: usize) -> Vec<u8> {
    let mut bytes = (len as u32).to_be_bytes().to_vec();
    bytes.resize(4 + body, b'x');
    bytes
}

/// Writes `bytes` in 64 KiB pieces until done or the server closes (bounded).
async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    within(async {
        for piece in bytes.chunks(64 * KIB) {
            if stream.write_all(piece).await.is_err() {
                return;
            }
        }
    })
    .await;
}

fn budget_cause(reason: &CloseReason) -> Option<MemoryBudget> {
    reason.as_error()?.cause::<MemoryBudget>().copied()
}

async fn echo_one(addr: SocketAddr, len: usize) {
    let mut good = TcpStream::connect(addr).await.unwrap();
    let frame = partial(len, len);
    send(&mut good, &frame).await;
    let echoed = read_frames(&mut good, "length-u32", 1).await;
    assert_eq!(echoed[0].len(), len);
}

#[tokio::test]
async fn frames_past_their_share_are_closed_and_the_others_served() {
    let (manager, addr, mut accepted) = server(MIB);
    let mut attackers = Vec::new();
    let mut tendrils = Vec::new();
    for _ in 0..4 {
        attackers.push(TcpStream::connect(addr).await.unwrap());
        tendrils.push(within(accepted.recv()).await.unwrap());
    }
    // Each announces a 4 MiB frame (under the framer's 8 MiB limit) and sends 1 MiB
    // of it: together four times the budget.
    let body = partial(4 * MIB, MIB);
    for attacker in &mut attackers {
        send(attacker, &body).await;
    }
    let mut shed = 0;
    for tendril in &tendrils {
        let reason = within(tendril.closed()).await;
        let cause = budget_cause(&reason).unwrap_or_else(|| panic!("{reason}"));
        assert_eq!(cause.budget, MIB);
        shed += 1;
    }
    assert_eq!(shed, 4);
    eventually(|| manager.stats().shed_memory == 4).await;
    // A well-behaved client is answered, and a frame of a quarter of the budget
    // (its echo holds about three quarters) still fits: what the shed connections
    // held was given back.
    echo_one(addr, 100).await;
    echo_one(addr, MIB / 4).await;
    eventually(|| manager.stats().budget_used == 0).await;
    for _ in 0..2 {
        let good = within(accepted.recv()).await.unwrap();
        let reason = within(good.closed()).await;
        assert!(!reason.is_error(), "{reason}");
    }
    assert_eq!(manager.stats().failed, 4);
    manager.shutdown();
}

#[tokio::test]
async fn within_its_share_a_frame_grows_and_the_largest_holder_goes() {
    let (manager, addr, mut accepted) = server(MIB);
    // The first holds most of the budget with a frame it never finishes.
    let mut hog = TcpStream::connect(addr).await.unwrap();
    let hog_tendril = within(accepted.recv()).await.unwrap();
    send(&mut hog, &partial(4 * MIB, 600 * KIB)).await;
    eventually(|| manager.stats().budget_used >= 512 * KIB as u64).await;
    // The second sends a frame within its half: it is echoed, the hog is shed.
    let mut fair = TcpStream::connect(addr).await.unwrap();
    let fair_tendril = within(accepted.recv()).await.unwrap();
    let frame = partial(200 * KIB, 200 * KIB);
    let writer = tokio::spawn(async move {
        send(&mut fair, &frame).await;
        fair
    });
    let reason = within(hog_tendril.closed()).await;
    assert!(budget_cause(&reason).is_some(), "{reason}");
    let mut fair = within(writer).await.unwrap();
    let echoed = read_frames(&mut fair, "length-u32", 1).await;
    assert_eq!(echoed[0].len(), 200 * KIB);
    assert!(
        fair_tendril.close_reason().is_none(),
        "the fair one is open"
    );
    assert_eq!(manager.stats().shed_memory, 1);
    drop(hog);
    manager.shutdown();
}

#[tokio::test]
async fn with_room_one_connection_may_use_most_of_the_budget() {
    // A 600 KiB echo holds about 1.6 MiB: the frame's read buffer (grown to 1 MiB)
    // and the reply's encoding.
    let (manager, addr, _accepted) = server(2 * MIB);
    echo_one(addr, 600 * KIB).await;
    eventually(|| manager.stats().budget_used == 0).await;
    assert_eq!(manager.stats().shed_memory, 0);
    manager.shutdown();
}

#[tokio::test]
async fn frames_queued_for_a_peer_that_does_not_read_are_counted_too() {
    let manager = TcpManager::builder(localhost())
        .memory_budget(MIB)
        .outbound_queue(1000)
        .build();
    let (pushed_tx, mut pushed) = mpsc::unbounded_channel();
    let pushed_started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| {
                let (recv, send) = framers("length-u32");
                tendril.set_framers(recv, send)?;
                let pusher = tendril.clone();
                let pushed_tx = pushed_tx.clone();
                // To the first connection only: 64 KiB frames to a peer that reads
                // none of them (100 of them would be over six times the budget).
                let first = !pushed_started.swap(true, std::sync::atomic::Ordering::Relaxed);
                tokio::spawn(async move {
                    if !first {
                        return;
                    }
                    let frame = Bytes::from(vec![b'p'; 64 * KIB]);
                    let mut sent = 0;
                    let outcome = loop {
                        if sent == 100 {
                            break Ok(sent);
                        }
                        match pusher.send_frame(frame.clone()).await {
                            Ok(()) => sent += 1,
                            Err(err) => break Err((sent, err)),
                        }
                    };
                    let _ = pushed_tx.send((outcome, pusher));
                });
                Ok(service(|frame: Bytes| async move { Ok(frame) }))
            }),
            NoWrapper,
        )
        .unwrap();
    let silent = TcpStream::connect(addr).await.unwrap();
    let (outcome, pusher) = within(pushed.recv()).await.unwrap();
    let (sent, err) = outcome.expect_err("the budget stops the pushes");
    assert!(err.is_limit(), "{err:#}");
    assert!(err.cause::<MemoryBudget>().is_some(), "{err:#}");
    assert!(sent < 100, "{sent}");
    let reason = within(pusher.closed()).await;
    assert!(budget_cause(&reason).is_some(), "{reason}");
    eventually(|| manager.stats().shed_memory == 1).await;
    eventually(|| manager.stats().budget_used == 0).await;
    // Others are still served.
    echo_one(addr, 100).await;
    drop(silent);
    manager.shutdown();
}

/// A frame handed to the application stays counted while its call runs: with a 2.5
/// MiB frame in the first call's hands, a second connection reading another (its
/// buffer growing to 4 MiB) passes its share of a 6 MiB budget and is shed, and its
/// shed reply (SMTP's 452, say) is written before the close.
#[tokio::test]
async fn frames_in_the_applications_hands_stay_counted_and_a_shed_reply_is_sent() {
    let manager = TcpManager::builder(localhost())
        .memory_budget(6 * MIB)
        .build();
    let frame = 2 * MIB + MIB / 2;
    let (holding, mut held) = mpsc::unbounded_channel();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let wait = release.clone();
    let (manager, addr, mut tendrils) = recording_server(manager, "length-u32", move || {
        let (holding, wait) = (holding.clone(), wait.clone());
        service(move |frame: Bytes| {
            let (holding, wait) = (holding.clone(), wait.clone());
            async move {
                // The call keeps the frame until the test lets it go.
                let _ = holding.send(frame.len());
                wait.notified().await;
                Ok(Bytes::from_static(b"done"))
            }
        })
    });
    let mut first = TcpStream::connect(addr).await.unwrap();
    let first_tendril = within(tendrils.recv()).await.unwrap();
    first_tendril.set_shed_reply(Bytes::from_static(b"452 first"));
    send(&mut first, &partial(frame, frame)).await;
    assert_eq!(within(held.recv()).await, Some(frame));
    // Held by the first call: counted still.
    eventually(|| manager.stats().budget_used >= frame as u64).await;

    let mut second = TcpStream::connect(addr).await.unwrap();
    let second_tendril = within(tendrils.recv()).await.unwrap();
    second_tendril.set_shed_reply(Bytes::from_static(b"452 second"));
    send(&mut second, &partial(frame, frame)).await;
    let reason = within(second_tendril.closed()).await;
    assert!(budget_cause(&reason).is_some(), "{reason}");
    let told = read_frames(&mut second, "length-u32", 1).await;
    assert_eq!(told, [Bytes::from_static(b"452 second")]);

    // The first is served to the end; then everything counted is given back.
    release.notify_waiters();
    let answered = read_frames(&mut first, "length-u32", 1).await;
    assert_eq!(answered, [Bytes::from_static(b"done")]);
    drop(first);
    eventually(|| manager.stats().budget_used == 0).await;
    manager.shutdown();
}
