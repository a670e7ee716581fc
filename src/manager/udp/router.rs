//! The UDP receive loop: routes each datagram by source address to its peer's
//! connection, creating peers on first contact, and sheds quiet peers for newcomers.
//!
//! The loop owns its peer map, so routing a datagram takes no lock. Datagrams are
//! received into a large buffer and handed to their peer as slices of it, without a
//! copy; a peer that ends says so, and the map forgets it at once. It stands on the
//! engine's public surface only ([`Engine::serve_datagrams`], [`Manager`]), as a
//! plug-in's connectionless transport would.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::drops::{kernel_drops, DropWatch};
use super::peer::{Departure, UdpPeer};
use super::peers::{Delivery, Peers, Room, Shed};
use super::socket::{Slots, Socket};
use super::stats::UdpCounters;
use crate::error::Error;
use crate::manager::{Accepted, Engine, Manager};

/// The buffer received datagrams are copied into, end to end: each is split from it,
/// and when one no longer fits a new buffer is taken (the old one lives while its
/// datagrams do).
const RECEIVE_BUFFER: usize = 256 * 1024;

/// Serves new peers: the started manager's acceptor and wrapper.
pub(crate) trait Spawn: Send {
    /// True if a new peer may be served now: the acceptor and the wrapper are ready
    /// (never waited for: that would stall every peer).
    fn ready(&mut self) -> bool;

    /// Serves `peer`: how to shed it, and whether its acceptor accepted.
    fn spawn(&mut self, peer: UdpPeer) -> (Shed, Accepted);
}

/// A peer made by `connect`, so that its replies reach it.
pub(crate) struct Registration {
    pub(crate) peer: SocketAddr,
    pub(crate) inbound: mpsc::Sender<BytesMut>,
    pub(crate) done: oneshot::Sender<PeerLink>,
}

/// How a connected peer's transport reports its departure.
pub(crate) struct PeerLink {
    pub(crate) departures: mpsc::Sender<Departure>,
    pub(crate) generation: u64,
}

pub(crate) struct Settings {
    pub(crate) inbound_queue: usize,
    /// Datagrams all peers' queues may hold together.
    pub(crate) inbound_budget: usize,
    pub(crate) reject_ttl: Duration,
    pub(crate) max_consecutive_errors: u32,
    pub(crate) max_peers: usize,
    pub(crate) shed_idle_after: Option<Duration>,
}

pub(crate) struct Router {
    socket: Arc<Socket>,
    engine: Engine,
    counters: Arc<UdpCounters>,
    spawner: Option<Box<dyn Spawn>>,
    settings: Settings,
    registrations: mpsc::Receiver<Registration>,
    departures: (mpsc::Sender<Departure>, mpsc::Receiver<Departure>),
    failure: Arc<Mutex<Option<Arc<Error>>>>,
    peers: Peers,
    generation: u64,
    rejected: HashMap<SocketAddr, Instant>,
    /// New peers whose acceptor has not answered yet: polled by the receive loop
    /// itself (no task per peer), so a rejection is remembered.
    accepting: FuturesUnordered<Acceptance>,
    /// New contacts of the batch being routed, kept for after the known peers'.
    fresh: Vec<(SocketAddr, BytesMut)>,
}

/// A new peer's acceptor at work: resolves to the peer and whether it accepted.
struct Acceptance {
    peer: SocketAddr,
    accepted: Accepted,
}

impl Future for Acceptance {
    type Output = (SocketAddr, Result<(), Error>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let accepted = ready!(Pin::new(&mut self.accepted).poll(cx));
        Poll::Ready((self.peer, accepted))
    }
}

/// Receive errors that concern one datagram (or an ICMP error about an earlier send).
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || err.raw_os_error() == Some(105) // ENOBUFS on Linux
}

/// What the receive loop is made of.
pub(crate) struct Parts {
    pub(crate) socket: Arc<Socket>,
    pub(crate) engine: Engine,
    pub(crate) counters: Arc<UdpCounters>,
    pub(crate) spawner: Option<Box<dyn Spawn>>,
    pub(crate) settings: Settings,
    pub(crate) registrations: mpsc::Receiver<Registration>,
    pub(crate) failure: Arc<Mutex<Option<Arc<Error>>>>,
}

impl Router {
    pub(crate) fn new(parts: Parts) -> Self {
        // Every peer sends one departure: the map's bound bounds the queue.
        let departures = mpsc::channel(parts.settings.max_peers.max(1));
        Router {
            peers: Peers::new(parts.settings.shed_idle_after),
            socket: parts.socket,
            engine: parts.engine,
            counters: parts.counters,
            spawner: parts.spawner,
            settings: parts.settings,
            registrations: parts.registrations,
            departures,
            failure: parts.failure,
            generation: 0,
            rejected: HashMap::new(),
            accepting: FuturesUnordered::new(),
            fresh: Vec::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut buf = BytesMut::new();
        let mut slots = Slots::new();
        let mut consecutive_errors = 0;
        // Once every manager handle is gone, a listening manager goes on (as a TCP
        // listener does); a connect-only one serves its remaining peers (connections
        // outlive their manager handle) and ends with the last of them.
        let mut orphaned = false;
        let mut check = tokio::time::interval(Duration::from_secs(1));
        // Once a second: the kernel's drops, and a warning for each kind of drop.
        let mut watch = tokio::time::interval(Duration::from_secs(1));
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drops = DropWatch::default();
        let mut closing = pin!(self.engine.closing());
        loop {
            if orphaned && self.spawner.is_none() && self.engine.stats().open == 0 {
                break;
            }
            let received = tokio::select! {
                biased;
                _ = &mut closing => break,
                _ = check.tick(), if orphaned && self.spawner.is_none() => continue,
                _ = watch.tick() => {
                    self.note_kernel_drops();
                    drops.check(&self.counters.snapshot(), Instant::now());
                    continue;
                }
                registration = self.registrations.recv(), if !orphaned => {
                    match registration {
                        Some(registration) => {
                            self.register(registration);
                            self.publish_peers();
                        }
                        None => orphaned = true,
                    }
                    continue;
                }
                Some((peer, generation)) = self.departures.1.recv() => {
                    self.peers.departed(peer, generation);
                    self.publish_peers();
                    continue;
                }
                Some((peer, accepted)) = self.accepting.next(), if !self.accepting.is_empty() => {
                    if accepted.is_err() {
                        self.remember_rejection(peer);
                    }
                    continue;
                }
                ready = self.socket.io().readable() => {
                    ready.and_then(|()| self.socket.try_recv(&mut slots))
                }
            };
            match received {
                Ok(filled) => {
                    consecutive_errors = 0;
                    self.route_batch(&slots, filled, &mut buf);
                    self.publish_peers();
                }
                // Readiness that was stale: nothing was waiting.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if is_transient(&err) => {
                    UdpCounters::bump(&self.counters.receive_errors);
                    tracing::debug!(error = %format_args!("{err:#}"), "udp receive error survived");
                }
                Err(err) => {
                    UdpCounters::bump(&self.counters.receive_errors);
                    consecutive_errors += 1;
                    tracing::warn!(error = %format_args!("{err:#}"), consecutive_errors, "udp receive failed");
                    if consecutive_errors > self.settings.max_consecutive_errors {
                        tracing::error!(error = %format_args!("{err:#}"), "too many consecutive receive errors: the manager stops");
                        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(Arc::new(err.into()));
                        self.engine.shutdown();
                        break;
                    }
                }
            }
        }
        self.peers = Peers::new(self.settings.shed_idle_after);
        self.publish_peers();
        tracing::debug!("udp manager stopped receiving");
    }

    /// Brings the kernel's drop count for the socket up to date.
    fn note_kernel_drops(&self) {
        if let Some(dropped) = kernel_drops(self.socket.io()) {
            self.counters
                .dropped_kernel
                .store(dropped, Ordering::Relaxed);
        }
    }

    fn publish_peers(&self) {
        self.counters
            .peers
            .store(self.peers.len() as u64, Ordering::Relaxed);
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    fn register(&mut self, registration: Registration) {
        let generation = self.next_generation();
        self.peers.insert(
            registration.peer,
            registration.inbound,
            None,
            generation,
            Instant::now(),
        );
        let _ = registration.done.send(PeerLink {
            departures: self.departures.0.clone(),
            generation,
        });
    }

    /// Routes the datagrams of one receive: each is copied into `buf` (compact: a
    /// datagram its peer keeps pins its own bytes, not a 64 KiB slot) and handed to its
    /// peer; new contacts come after the known peers' datagrams, so that a flood of
    /// new sources never delays the peers already in a conversation.
    fn route_batch(&mut self, slots: &Slots, filled: usize, buf: &mut BytesMut) {
        let mut fresh = std::mem::take(&mut self.fresh);
        let now = Instant::now();
        for (from, datagram) in slots.datagrams(filled) {
            if buf.capacity() - buf.len() < datagram.len() {
                *buf = BytesMut::with_capacity(RECEIVE_BUFFER.max(datagram.len()));
            }
            buf.extend_from_slice(datagram);
            let datagram = buf.split();
            if let Some(datagram) = self.route(from, datagram, now) {
                fresh.push((from, datagram));
            }
        }
        for (from, datagram) in fresh.drain(..) {
            // A contact earlier in this batch may have made it a known peer.
            if let Some(datagram) = self.deliver(from, datagram, now) {
                self.new_peer(from, datagram, now);
            }
        }
        self.fresh = fresh;
    }

    /// Counts a datagram and hands it to its peer, if it has one and the queues have
    /// room; a new contact's datagram comes back.
    fn route(&mut self, from: SocketAddr, datagram: BytesMut, now: Instant) -> Option<BytesMut> {
        UdpCounters::bump(&self.counters.datagrams_in);
        let queued = self.counters.queued.load(Ordering::Relaxed);
        if queued >= self.settings.inbound_budget as u64 {
            // Every queue together holds the budget: this one waits for none.
            UdpCounters::bump(&self.counters.dropped_queue_full);
            return None;
        }
        self.deliver(from, datagram, now)
    }

    /// Hands a datagram to the peer at `from`; a new contact's datagram comes back.
    fn deliver(&mut self, from: SocketAddr, datagram: BytesMut, now: Instant) -> Option<BytesMut> {
        match self.peers.deliver(from, datagram, now) {
            Delivery::Delivered => UdpCounters::bump(&self.counters.queued),
            Delivery::QueueFull => UdpCounters::bump(&self.counters.dropped_queue_full),
            Delivery::NewContact(datagram) => return Some(datagram),
        }
        None
    }

    fn new_peer(&mut self, from: SocketAddr, datagram: BytesMut, now: Instant) {
        let dropped = &self.counters.dropped_table_full;
        if let Some(at) = self.rejected.get(&from) {
            if at.elapsed() < self.settings.reject_ttl {
                UdpCounters::bump(dropped);
                return;
            }
            self.rejected.remove(&from);
        }
        if self.spawner.is_none() || !self.engine.running() {
            UdpCounters::bump(dropped);
            return;
        }
        if !self.engine.admit_source(&from.into()) {
            UdpCounters::bump(&self.counters.dropped_source);
            return;
        }
        if self.peers.len() >= self.settings.max_peers {
            match self.peers.make_room(now) {
                Room::Shed(peer) => peer.shed(),
                Room::Full => {
                    UdpCounters::bump(dropped);
                    return;
                }
            }
        }
        if !self.spawner.as_mut().is_some_and(|spawner| spawner.ready()) {
            UdpCounters::bump(dropped);
            return;
        }
        let (inbound, receiver) = mpsc::channel(self.settings.inbound_queue.max(1));
        if inbound.try_send(datagram).is_ok() {
            UdpCounters::bump(&self.counters.queued);
        }
        let generation = self.next_generation();
        let peer = UdpPeer::new(
            self.socket.clone(),
            from,
            receiver,
            self.departures.0.clone(),
            generation,
            self.counters.clone(),
        );
        let Some(spawner) = self.spawner.as_mut() else {
            return;
        };
        let (shed, accepted) = spawner.spawn(peer);
        self.peers
            .insert(from, inbound, Some(shed), generation, now);
        self.accepting.push(Acceptance {
            peer: from,
            accepted,
        });
    }

    fn remember_rejection(&mut self, peer: SocketAddr) {
        let limit = self.settings.max_peers.max(1);
        if self.rejected.len() >= limit {
            let ttl = self.settings.reject_ttl;
            self.rejected.retain(|_, at| at.elapsed() < ttl);
        }
        if self.rejected.len() < limit {
            self.rejected.insert(peer, Instant::now());
        }
    }
}
