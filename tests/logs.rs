//! A connection closed by a limit, a guard or its framing leaves exactly one event at
//! `info` or above, in its span, with the reason; an ordinary close leaves none there.
//!
//! Its own test binary: tracing caches whether a callsite is enabled process-wide, so
//! another test thread hitting the connection's span first (with no subscriber) could
//! leave it disabled for this one.

#[path = "tcp/support.rs"]
#[allow(dead_code)] // this binary uses a few of the TCP tests' helpers
mod support;

use std::sync::{Arc, Mutex};

use tendril_net::{Manager, TcpManager};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use support::*;

/// What an event said: its level, message and `reason` field, and whether it was in a
/// span.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    message: String,
    reason: String,
    /// The peer it names (`remote`), if it names one.
    remote: String,
    in_span: bool,
}

/// A subscriber recording every event (a test's own: no dependency for it).
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Seen>>>,
    current: Arc<Mutex<Vec<u64>>>,
    next: Arc<Mutex<u64>>,
}

struct Fields<'a>(&'a mut Seen);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.0.message = format!("{value:?}"),
            "reason" => self.0.reason = format!("{value:?}"),
            "remote" => self.0.remote = format!("{value:?}"),
            _ => {}
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        let mut next = self.next.lock().unwrap();
        *next += 1;
        Id::from_u64(*next)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut seen = Seen {
            level: *event.metadata().level(),
            message: String::new(),
            reason: String::new(),
            remote: String::new(),
            in_span: !self.current.lock().unwrap().is_empty(),
        };
        event.record(&mut Fields(&mut seen));
        self.events.lock().unwrap().push(seen);
    }
    fn enter(&self, span: &Id) {
        self.current.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.current.lock().unwrap().pop();
    }
}

impl Recorder {
    /// Events at info or above.
    fn loud(&self) -> Vec<Seen> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|seen| seen.level <= Level::INFO)
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn a_limit_close_is_one_event_in_the_connections_span() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let (manager, addr) = echo_server(TcpManager::new(localhost()), "line");
    // A well-behaved connection that ends: nothing loud.
    let mut fine = client(addr, b"hello\r\n").await;
    assert_eq!(read_frames(&mut fine, "line", 1).await, ["hello"]);
    drop(fine);
    eventually(|| manager.stats().closed_by_peer == 1).await;
    assert!(recorder.loud().is_empty(), "{:?}", recorder.loud());
    // A line over the 64 KiB limit: closed, one event saying why.
    let mut endless = client(addr, &vec![b'x'; 70 * 1024]).await;
    assert_eq!(read_until_closed(&mut endless).await, b"");
    eventually(|| manager.stats().failed == 1).await;
    let loud = recorder.loud();
    assert_eq!(loud.len(), 1, "{loud:?}");
    assert_eq!(loud[0].level, Level::INFO);
    assert!(loud[0].in_span, "in the connection's span");
    assert!(loud[0].message.contains("closed by a limit"), "{loud:?}");
    assert!(
        loud[0].reason.contains("line longer than 65536 bytes"),
        "{loud:?}"
    );
    manager.shutdown();
}

#[tokio::test]
async fn a_budget_close_is_one_event_too() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    // A budget of one byte: any line over the uncounted 16 KiB is over it.
    let builder = TcpManager::builder(localhost()).memory_budget(1);
    let (manager, addr) = echo_server(builder.build(), "line");
    let mut big = client(addr, &vec![b'x'; 40 * 1024]).await;
    assert_eq!(read_until_closed(&mut big).await, b"");
    eventually(|| manager.stats().shed_memory == 1).await;
    let loud = recorder.loud();
    assert_eq!(loud.len(), 1, "{loud:?}");
    assert!(loud[0].in_span, "in the connection's span");
    assert!(loud[0].reason.contains("memory budget"), "{loud:?}");
    manager.shutdown();
}

#[tokio::test(start_paused = true)]
async fn shedding_an_idle_connection_is_one_event_too() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let builder = TcpManager::builder(localhost()).max_connections(1);
    let (manager, addr) = echo_server(builder.build(), "line");
    let mut idle = client(addr, b"").await;
    eventually(|| manager.stats().open == 1).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut newcomer = client(addr, b"hi\r\n").await;
    assert_eq!(read_frames(&mut newcomer, "line", 1).await, ["hi"]);
    assert_eq!(read_until_closed(&mut idle).await, b"");
    let loud = recorder.loud();
    assert_eq!(loud.len(), 1, "{loud:?}");
    assert!(loud[0].in_span, "in the connection's span");
    assert!(loud[0].message.contains("shed"), "{loud:?}");
    // It names whose connection it was (the span is at debug).
    let peer = idle.local_addr().unwrap().to_string();
    assert_eq!(loud[0].remote, peer, "{loud:?}");
    manager.shutdown();
}
