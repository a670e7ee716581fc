//! Peers: one connection that serves and calls, over loopback TCP.
//!
//! The protocol here is lines: `? TAG METHOD ARGS` asks, `! TAG RESULT` answers,
//! `x TAG` cancels request TAG, `. TEXT` notifies.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use tendril_net::app::service;
use tendril_net::client::{Classify, Client, Kind, Peer, PeerOverload, ResponseTimeout};
use tendril_net::framer::{FramerSwitch, LineFramer};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, CloseReason, Error, Manager, TcpManager, Tendril};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tower::limit::ConcurrencyLimit;
use tower::util::BoxCloneService;
use tower::{Service, ServiceExt};

use crate::support::{eventually, localhost, within};

struct Lines;

fn words(frame: &Bytes) -> Vec<String> {
    String::from_utf8_lossy(frame)
        .split(' ')
        .map(str::to_owned)
        .collect()
}

impl Classify<Bytes> for Lines {
    type Key = u64;

    fn classify(&self, frame: &Bytes) -> Kind<u64> {
        let words = words(frame);
        let tag = || words.get(1).and_then(|tag| tag.parse().ok());
        match words[0].as_str() {
            "?" => Kind::Request(tag()),
            "!" => Kind::Response(tag()),
            "x" => tag().map_or(Kind::Notification, Kind::Cancel),
            _ => Kind::Notification,
        }
    }

    fn tag(&self, request: Bytes, tag: u64) -> Bytes {
        format!("? {tag} {}", String::from_utf8_lossy(&request)).into()
    }

    fn cancel(&self, tag: u64) -> Option<Bytes> {
        Some(format!("x {tag}").into())
    }

    fn cancelled(&self, key: u64) -> Option<Bytes> {
        Some(format!("! {key} cancelled").into())
    }
}

fn framers() -> FramerSwitch<Bytes, Bytes> {
    FramerSwitch::symmetric(LineFramer::new())
}

/// The result of an answer `! TAG RESULT...`.
fn result(answer: &Bytes) -> String {
    words(answer)[2..].join(" ")
}

/// What either end serves: `whoami` (its name), `add A B`, `greet` (calls the peer's
/// `whoami`, notifies it, then answers), `sleep` (never answers; tells `dropped` when
/// its handler is dropped); notifications go to `notes`.
#[derive(Clone)]
struct Handler {
    name: &'static str,
    caller: Client<Bytes>,
    tendril: Tendril,
    notes: mpsc::UnboundedSender<String>,
    started: mpsc::UnboundedSender<()>,
    dropped: mpsc::UnboundedSender<()>,
}

struct Dropped(mpsc::UnboundedSender<()>);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

impl Handler {
    async fn handle(self, frame: Bytes) -> Result<Option<Bytes>, BoxError> {
        let words = words(&frame);
        if words[0] == "." {
            let _ = self.notes.send(words[1..].join(" "));
            return Ok(None);
        }
        let (tag, method) = (&words[1], words[2].as_str());
        let result = match method {
            "whoami" => self.name.to_owned(),
            "add" => {
                let a: u64 = words[3].parse()?;
                let b: u64 = words[4].parse()?;
                (a + b).to_string()
            }
            "greet" => {
                let mut caller = self.caller.clone();
                let who = caller.ready().await?.call("whoami".into()).await?;
                self.tendril
                    .send_frame(Bytes::from(format!(". greeted {}", result(&who))))
                    .await?;
                format!("hello {}", result(&who))
            }
            "sleep" => {
                let _guard = Dropped(self.dropped.clone());
                let _ = self.started.send(());
                std::future::pending::<()>().await;
                unreachable!("never answers")
            }
            _ => "unknown".to_owned(),
        };
        Ok(Some(format!("! {tag} {result}").into()))
    }
}

struct End {
    notes: mpsc::UnboundedReceiver<String>,
    started: mpsc::UnboundedReceiver<()>,
    dropped: mpsc::UnboundedReceiver<()>,
}

/// What builds an end's application from its caller and connection.
trait MakeApp:
    Fn(Client<Bytes>, &Tendril) -> BoxCloneService<Bytes, Option<Bytes>, BoxError>
    + Send
    + Sync
    + 'static
{
}

impl<M> MakeApp for M where
    M: Fn(Client<Bytes>, &Tendril) -> BoxCloneService<Bytes, Option<Bytes>, BoxError>
        + Send
        + Sync
        + 'static
{
}

/// `make` for one end: the handler behind a limit of `limit` calls at once.
fn end(name: &'static str, limit: usize) -> (impl MakeApp, End) {
    let (notes_tx, notes) = mpsc::unbounded_channel();
    let (started_tx, started) = mpsc::unbounded_channel();
    let (dropped_tx, dropped) = mpsc::unbounded_channel();
    let make = move |caller: Client<Bytes>, tendril: &Tendril| {
        let handler = Handler {
            name,
            caller,
            tendril: tendril.clone(),
            notes: notes_tx.clone(),
            started: started_tx.clone(),
            dropped: dropped_tx.clone(),
        };
        let app = service(move |frame: Bytes| handler.clone().handle(frame));
        BoxCloneService::new(ConcurrencyLimit::new(app, limit))
    };
    (
        make,
        End {
            notes,
            started,
            dropped,
        },
    )
}

/// A server end `A` (its caller handed out on `callers`) and a client end `B`
/// connected to it, both with `peer`'s settings and limits of `limit`.
async fn pair(
    peer: Peer<Lines, Bytes>,
    limit: usize,
) -> (TcpManager, Client<Bytes>, End, Client<Bytes>, End) {
    let (make_a, end_a) = end("A", limit);
    let (caller_tx, caller_rx) = oneshot::channel();
    let caller_tx = Mutex::new(Some(caller_tx));
    let server = TcpManager::new(localhost());
    let acceptor = peer.acceptor(move |caller: Client<Bytes>, tendril: &Tendril| {
        if let Some(tx) = caller_tx.lock().unwrap().take() {
            let _ = tx.send(caller.clone());
        }
        make_a(caller, tendril)
    });
    let addr = server
        .start_with_framers(acceptor, NoWrapper, framers)
        .unwrap();
    let (make_b, end_b) = end("B", limit);
    let client_manager = TcpManager::new(localhost());
    let caller_b = peer
        .connect(&client_manager, addr, NoWrapper, framers(), make_b)
        .await
        .unwrap();
    let caller_a = within(caller_rx).await.unwrap();
    (server, caller_a, end_a, caller_b, end_b)
}

async fn call(mut caller: Client<Bytes>, request: &str) -> Result<Bytes, Error> {
    caller
        .ready()
        .await?
        .call(Bytes::from(request.to_owned()))
        .await
}

/// The case that deadlocks when responses wait for the application: every limit is
/// 1 (one call in flight per end, one request served at a time per end), B calls A's
/// `greet` 1,000 times, whose handler calls B back (`whoami`) while it holds A's only
/// slot, and meanwhile A calls B's `add` 1,000 times. The answers to A's calls reach
/// A while its application is busy; they are routed around it.
#[tokio::test]
async fn crossing_calls_with_limits_of_one_all_complete() {
    let peer = Peer::new(Lines).max_in_flight(1);
    let (_server, caller_a, _end_a, caller_b, mut end_b) = pair(peer, 1).await;
    let greets = join_all((0..1000).map(|_| call(caller_b.clone(), "greet")));
    let adds = join_all((0..1000u64).map(|i| {
        let caller = caller_a.clone();
        async move { (i, call(caller.clone(), &format!("add {i} {i}")).await) }
    }));
    let (greets, adds) = within(async { tokio::join!(greets, adds) }).await;
    for answer in greets {
        assert_eq!(result(&answer.unwrap()), "hello B");
    }
    for (i, answer) in adds {
        assert_eq!(result(&answer.unwrap()), (2 * i).to_string());
    }
    // Each greet notified B before answering.
    let mut notes = 0;
    while let Ok(note) = end_b.notes.try_recv() {
        assert_eq!(note, "greeted B");
        notes += 1;
    }
    assert_eq!(notes, 1000);
    assert_eq!(caller_a.in_flight(), 0);
    assert_eq!(caller_b.in_flight(), 0);
}

#[tokio::test]
async fn notifications_go_both_ways_without_a_reply() {
    let (_server, caller_a, mut end_a, caller_b, mut end_b) = pair(Peer::new(Lines), 4).await;
    caller_b
        .tendril()
        .send_frame(Bytes::from(". from B"))
        .await
        .unwrap();
    caller_a
        .tendril()
        .send_frame(Bytes::from(". from A"))
        .await
        .unwrap();
    assert_eq!(within(end_a.notes.recv()).await.unwrap(), "from B");
    assert_eq!(within(end_b.notes.recv()).await.unwrap(), "from A");
    // And calls still work after them.
    assert_eq!(
        result(&call(caller_b.clone(), "whoami").await.unwrap()),
        "A"
    );
}

/// A call given up on (its response timed out) sends the cancel; the peer answers
/// `cancelled` (dropping the handler if it had started), which arrives late and is
/// counted.
#[tokio::test]
async fn a_timed_out_call_is_cancelled_on_the_other_end() {
    let peer = Peer::new(Lines).call_timeout(Some(Duration::from_millis(100)));
    let (_server, _caller_a, _end_a, caller_b, _end_b) = pair(peer, 4).await;
    let err = call(caller_b.clone(), "sleep").await.unwrap_err();
    assert!(err.is_timeout(), "{err:#}");
    assert_eq!(
        err.cause::<ResponseTimeout>().map(|timeout| timeout.after),
        Some(Duration::from_millis(100))
    );
    eventually(|| caller_b.stats().late == 1).await;
    // The slot is free again.
    assert_eq!(
        result(&call(caller_b.clone(), "add 1 2").await.unwrap()),
        "3"
    );
}

/// Dropping a call's future cancels it the same way.
#[tokio::test]
async fn a_dropped_call_is_cancelled_on_the_other_end() {
    let (_server, _caller_a, mut end_a, caller_b, _end_b) = pair(Peer::new(Lines), 4).await;
    let mut caller = caller_b.clone();
    let pending = caller.ready().await.unwrap().call(Bytes::from("sleep"));
    let pending = tokio::spawn(pending);
    within(end_a.started.recv()).await.unwrap();
    pending.abort();
    within(end_a.dropped.recv()).await.unwrap();
    eventually(|| caller_b.stats().late == 1).await;
}

#[tokio::test]
async fn calls_waiting_fail_when_the_connection_closes() {
    let (server, _caller_a, _end_a, caller_b, _end_b) = pair(Peer::new(Lines), 4).await;
    let waiting = tokio::spawn({
        let caller = caller_b.clone();
        async move { call(caller.clone(), "sleep").await }
    });
    eventually(|| caller_b.in_flight() == 1).await;
    server.shutdown();
    let err = within(waiting).await.unwrap().unwrap_err();
    assert!(err.is_closed(), "{err:#}");
    let err = call(caller_b.clone(), "whoami").await.unwrap_err();
    assert!(err.is_closed(), "{err:#}");
}

/// A peer that sends more requests than `max_inbound` while they are all still
/// running is closed, with the reason, instead of having its responses go unread.
#[tokio::test]
async fn requests_past_max_inbound_close_the_connection() {
    let server = TcpManager::new(localhost());
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel();
    let (make, _end) = end("A", 8);
    let acceptor = Peer::new(Lines).max_inbound(2).acceptor(
        move |caller: Client<Bytes>, tendril: &Tendril| {
            let closed_tx = closed_tx.clone();
            tendril.on_close(move |reason: CloseReason| {
                let _ = closed_tx.send(reason);
            });
            make(caller, tendril)
        },
    );
    let addr = server
        .start_with_framers(acceptor, NoWrapper, framers)
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"? 1 sleep\r\n? 2 sleep\r\n? 3 sleep\r\n")
        .await
        .unwrap();
    let reason = within(closed_rx.recv()).await.unwrap();
    let err = reason.as_error().expect("closed by an error");
    assert!(err.is_application(), "{err:#}");
    assert_eq!(
        err.cause::<PeerOverload>().map(|overload| overload.limit),
        Some(2)
    );
    let mut rest = String::new();
    let mut reader = BufReader::new(stream);
    within(async { while reader.read_line(&mut rest).await.unwrap() > 0 {} }).await;
    assert_eq!(rest, "", "nothing answered: the requests never finished");
    eventually(|| server.tendrils::<Bytes, Bytes>().is_empty()).await;
}
