//! Multiplexed clients: responses in any order, matched by tag.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tendril_net::app::acceptor_fn;
use tendril_net::client::Client;
use tendril_net::framer::{ByteOrder, FramerSwitch, LengthFramer, LengthPrefix};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, TcpManager, Tendril, UdpManager};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

use crate::support::{localhost, payload, within, FirstTwoBytes};

fn framer() -> LengthFramer {
    LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian)
}

/// Requests the server holds: the connection and the frames, oldest first.
#[derive(Default)]
struct Held {
    tendril: Option<Tendril>,
    frames: Vec<Bytes>,
    outstanding: HashSet<u16>,
}

impl Held {
    /// Answers the oldest held request.
    async fn release_oldest(held: &Mutex<Held>) {
        let (tendril, frame) = {
            let mut held = held.lock().unwrap();
            let frame = held.frames.remove(0);
            held.outstanding
                .remove(&u16::from_be_bytes([frame[0], frame[1]]));
            (held.tendril.clone().unwrap(), frame)
        };
        tendril.send_frame(frame).await.unwrap();
    }
}

/// A server that holds every request; `flush` answers all held ones, newest first. A
/// request whose tag is already held is answered `COLLISION`.
fn holding_server() -> (TcpManager, std::net::SocketAddr, Arc<Mutex<Held>>) {
    let held = Arc::new(Mutex::new(Held::default()));
    let state = held.clone();
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(framer(), framer())?;
                state.lock().unwrap().tendril = Some(tendril.clone());
                let state = state.clone();
                Ok(service_fn(move |frame: Bytes| {
                    let mut held = state.lock().unwrap();
                    let tag = u16::from_be_bytes([frame[0], frame[1]]);
                    let mut replies = Vec::new();
                    if !held.outstanding.insert(tag) {
                        let mut collision = BytesMut::new();
                        collision.put_u16(tag);
                        collision.extend_from_slice(b"COLLISION");
                        replies.push(collision.freeze());
                    } else if payload(&frame) == "flush" {
                        held.frames.push(frame);
                        replies = held.frames.drain(..).rev().collect();
                        held.outstanding.clear();
                    } else {
                        held.frames.push(frame);
                    }
                    async move { Ok::<_, BoxError>(replies) }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr, held)
}

#[tokio::test]
async fn out_of_order_responses_are_matched_by_tag() {
    let (_server, addr, _) = holding_server();
    let mut client = within(Client::multiplexed(FirstTwoBytes).connect(
        &TcpManager::new(localhost()),
        addr,
        NoWrapper,
        FramerSwitch::symmetric(framer()),
    ))
    .await
    .unwrap();
    let mut calls = Vec::new();
    for i in 0..7 {
        let call = client
            .ready()
            .await
            .unwrap()
            .call(Bytes::from(format!("hold{i}")));
        calls.push((format!("hold{i}"), call));
    }
    let flush = client.ready().await.unwrap().call(Bytes::from("flush"));
    calls.push(("flush".to_owned(), flush));
    for (sent, call) in calls {
        let answer = within(call).await.unwrap();
        assert_eq!(payload(&answer), sent.as_str());
    }
    let stats = client.stats();
    assert_eq!(
        (stats.unknown_tag, stats.late, stats.unsolicited),
        (0, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn tag_exhaustion_waits_instead_of_colliding() {
    let (_server, addr, held) = holding_server();
    let mut client = within(Client::multiplexed(FirstTwoBytes).tag_space(2).connect(
        &TcpManager::new(localhost()),
        addr,
        NoWrapper,
        FramerSwitch::symmetric(framer()),
    ))
    .await
    .unwrap();
    let a = client.ready().await.unwrap().call(Bytes::from("a"));
    let b = client.ready().await.unwrap().call(Bytes::from("b"));
    let waited = tokio::time::timeout(Duration::from_millis(50), client.ready()).await;
    assert!(waited.is_err(), "no tag is free: poll_ready waits");
    crate::support::within(async {
        while held.lock().unwrap().frames.len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    Held::release_oldest(&held).await;
    assert_eq!(payload(&within(a).await.unwrap()), "a");
    // The freed tag goes to the next request; the server would answer a collision.
    let c = within(client.ready()).await.unwrap().call(Bytes::from("c"));
    let flush_ready = tokio::time::timeout(Duration::from_millis(50), client.ready()).await;
    assert!(flush_ready.is_err());
    Held::release_oldest(&held).await;
    assert_eq!(payload(&within(b).await.unwrap()), "b");
    let flush = within(client.ready())
        .await
        .unwrap()
        .call(Bytes::from("flush"));
    assert_eq!(payload(&within(c).await.unwrap()), "c");
    assert_eq!(payload(&within(flush).await.unwrap()), "flush");
}

#[tokio::test]
async fn a_response_with_an_unknown_tag_is_counted_and_dropped() {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(framer(), framer())?;
                Ok(service_fn(|frame: Bytes| async move {
                    // A stray answer with another tag, then the real one.
                    let mut stray = BytesMut::from(&frame[..]);
                    stray[0] ^= 0x80;
                    Ok::<_, BoxError>(vec![stray.freeze(), frame])
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut client = within(Client::multiplexed(FirstTwoBytes).connect(
        &TcpManager::new(localhost()),
        addr,
        NoWrapper,
        FramerSwitch::symmetric(framer()),
    ))
    .await
    .unwrap();
    let answer = client.ready().await.unwrap().call(Bytes::from("x"));
    assert_eq!(payload(&within(answer).await.unwrap()), "x");
    assert_eq!(client.stats().unknown_tag, 1);
}

/// Paused time: the lost query's timeout passes once nothing else is pending.
#[tokio::test(start_paused = true)]
async fn udp_queries_with_one_reply_lost() {
    // Answers every datagram as is, except `lose`.
    let server = UdpManager::new(localhost());
    let addr = server
        .start(
            acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
                Ok(service_fn(|frame: Bytes| async move {
                    Ok::<_, BoxError>((payload(&frame) != "lose").then_some(frame))
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let client = within(Client::multiplexed(FirstTwoBytes).connect(
        &UdpManager::new(localhost()),
        addr,
        NoWrapper,
        FramerSwitch::default(),
    ))
    .await
    .unwrap();
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_millis(300))
        .service(client);
    let mut calls = Vec::new();
    for query in ["q0", "q1", "lose", "q3", "q4"] {
        calls.push((
            query,
            service.ready().await.unwrap().call(Bytes::from(query)),
        ));
    }
    for (query, call) in calls {
        let answer = within(call).await;
        if query == "lose" {
            let err = answer.unwrap_err();
            assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");
        } else {
            assert_eq!(payload(&answer.unwrap()), query);
        }
    }
    assert_eq!(service.get_ref().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_tag_is_reused_only_after_its_quarantine() {
    let (_server, addr, held) = holding_server();
    let client = within(
        Client::multiplexed(FirstTwoBytes)
            .tag_space(1)
            .tag_quarantine(Duration::from_secs(30))
            .connect(
                &TcpManager::new(localhost()),
                addr,
                NoWrapper,
                FramerSwitch::symmetric(framer()),
            ),
    )
    .await
    .unwrap();
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .service(client);
    let first = service.ready().await.unwrap().call(Bytes::from("first"));
    assert!(first
        .await
        .unwrap_err()
        .is::<tower::timeout::error::Elapsed>());
    // Its tag is quarantined: the next request waits for the quarantine to end.
    let early = tokio::time::timeout(Duration::from_secs(20), service.ready()).await;
    assert!(early.is_err(), "the only tag is quarantined");
    tokio::time::timeout(Duration::from_secs(20), service.ready())
        .await
        .expect("free after the quarantine")
        .unwrap();
    held.lock().unwrap().outstanding.clear();
    let second = service.call(Bytes::from("flush"));
    let answer = second.await.unwrap();
    assert_eq!(payload(&answer), "flush");
}
