//! [`Flight`]: a client's requests in flight, the one structure behind its bound, its
//! tags and the routing of responses to the calls waiting for them.
//!
//! `poll_ready` takes a [`Permit`] (a slot under `max_in_flight`, and in the
//! multiplexed mode a tag); `call` registers the request's waiter under that permit
//! and queues the frame; the connection's dispatcher hands each response to its waiter
//! and frees the slot (and the tag). A request given up on (its future dropped) frees
//! its slot in the multiplexed mode and quarantines its tag; in the pipelined mode it
//! keeps its slot until its response arrives, since the responses after it come after
//! it on the wire. When the connection closes, every waiter is dropped: the calls
//! waiting fail with the close reason. The state is one small lock, taken once to
//! reserve, once to call and once per response.
//!
//! A client may have clones (a peer's handlers each hold one): each has its own permit
//! and registers its own waker; a freed slot wakes every clone waiting. A request is
//! registered and its frame queued under the lock, so that pipelined responses match
//! requests in the order their frames reached the connection, whichever clone sent
//! them.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Waker};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::stats::ClientStats;
use super::tags::{Tagger, Tags};
use crate::error::Error;
use crate::tendril::{CloseReason, Tendril};

/// The connection's close reason, to come (`Sync`, so that a client is).
pub(crate) type Closing = Pin<Box<dyn Future<Output = CloseReason> + Send + Sync>>;

/// Set in [`Flight::outstanding`] once the client is dropped.
const DROPPED: usize = 1 << (usize::BITS - 1);

/// Why no permit can be had now.
#[derive(Debug)]
pub(crate) enum Wait {
    /// The connection's dispatcher is gone: nothing more will be answered.
    Closed,
    /// Every slot is taken (the waker is registered).
    Slot,
    /// Every free tag is quarantined until then (the waker is registered).
    Release(Instant),
}

/// What a slot and its tag hold until `call`.
#[derive(Debug)]
pub(crate) struct Permit {
    pub(crate) tag: Option<u64>,
}

/// Who waits for a response.
enum Waiter<Resp> {
    Waiting(oneshot::Sender<Resp>),
    /// Multiplexed: given up on; its tag is quarantined, a late answer is counted.
    Abandoned,
}

enum Waiters<Resp> {
    /// Responses in request order.
    Pipelined(VecDeque<oneshot::Sender<Resp>>),
    /// Responses matched by tag.
    Multiplexed {
        pending: HashMap<u64, Waiter<Resp>>,
        tags: Tags,
    },
}

struct State<Resp> {
    waiters: Waiters<Resp>,
    /// Slots taken: permits reserved and requests on the wire.
    in_flight: usize,
    /// The clients waiting for a slot or a tag: woken when one is freed.
    waiting: Vec<Waker>,
    /// The connection's dispatcher is gone: nothing more will be answered.
    closed: bool,
    stats: ClientStats,
}

/// Where a response went.
pub(crate) enum Routed<Resp> {
    Delivered,
    /// Nobody waits for it: for the unsolicited handler.
    Unsolicited(Resp),
}

pub(crate) struct Flight<Resp> {
    state: Mutex<State<Resp>>,
    max: usize,
    /// Response futures not yet finished, with [`DROPPED`] once every client is gone
    /// (the connection closes when nothing is outstanding then); outside the lock, so
    /// that a call answered finishes without it.
    outstanding: AtomicUsize,
    /// The client and its clones.
    clients: AtomicUsize,
    /// The connection closes once the clients are gone (not a peer's: it serves too).
    close_when_dropped: bool,
    /// The connection, once it exists: how to close it, and its close reason.
    connection: OnceLock<Connection>,
}

struct Connection {
    close: Box<dyn Fn() + Send + Sync>,
    closed: Box<dyn Fn() -> Closing + Send + Sync>,
    /// Sends the tagger's cancel message for the request of a tag given up on.
    cancel: Option<Box<dyn Fn(u64) + Send + Sync>>,
}

impl<Resp> Flight<Resp> {
    /// A flight of at most `max` requests; `tags` for the multiplexed mode. Without
    /// `close_when_dropped`, dropping every client leaves the connection open.
    pub(crate) fn new(max: usize, tags: Option<Tags>, close_when_dropped: bool) -> Self {
        let waiters = match tags {
            None => Waiters::Pipelined(VecDeque::new()),
            Some(tags) => Waiters::Multiplexed {
                pending: HashMap::new(),
                tags,
            },
        };
        Flight {
            state: Mutex::new(State {
                waiters,
                in_flight: 0,
                waiting: Vec::new(),
                closed: false,
                stats: ClientStats::default(),
            }),
            max: max.max(1),
            outstanding: AtomicUsize::new(0),
            clients: AtomicUsize::new(1),
            close_when_dropped,
            connection: OnceLock::new(),
        }
    }

    /// The connection the requests go out on; `tagger` (multiplexed) writes the
    /// cancel message of a request given up on.
    pub(crate) fn attach<Req>(
        &self,
        tendril: &Tendril<Resp, Req>,
        tagger: Option<Arc<dyn Tagger<Req, Resp>>>,
    ) where
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        let (close, closed) = (tendril.clone(), tendril.clone());
        let cancel = tagger.map(|tagger| {
            let tendril = tendril.clone();
            Box::new(move |tag| {
                if let Some(message) = tagger.cancel(tag) {
                    // Best effort: a full queue or a closed connection drops it.
                    let _ = tendril.try_send_frame(message);
                }
            }) as Box<dyn Fn(u64) + Send + Sync>
        });
        let _ = self.connection.set(Connection {
            close: Box::new(move || close.close()),
            closed: Box::new(move || Box::pin(closed.closed())),
            cancel,
        });
    }

    fn close(&self) {
        if let Some(connection) = self.connection.get() {
            (connection.close)();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<Resp>> {
        // Plain data: a panic elsewhere leaves it consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The close reason, once the connection has one.
    pub(crate) fn closed(&self) -> Closing {
        match self.connection.get() {
            Some(connection) => (connection.closed)(),
            None => Box::pin(async { CloseReason::Local }),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    pub(crate) fn stats(&self) -> ClientStats {
        self.lock().stats
    }

    /// A slot and a tag (`None` if `holding` one already), or why not: in one look,
    /// the connection's end first.
    pub(crate) fn poll_acquire(
        &self,
        cx: &mut Context<'_>,
        holding: bool,
    ) -> Result<Option<Permit>, Wait> {
        let mut state = self.lock();
        if state.closed {
            return Err(Wait::Closed);
        }
        if holding {
            return Ok(None);
        }
        match self.acquire(&mut state) {
            Ok(permit) => Ok(Some(permit)),
            Err(wait) => {
                // Registered under the lock a freed slot is told under: no wake is lost.
                if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    state.waiting.push(cx.waker().clone());
                }
                Err(wait)
            }
        }
    }

    fn acquire(&self, state: &mut State<Resp>) -> Result<Permit, Wait> {
        if state.in_flight >= self.max {
            return Err(Wait::Slot);
        }
        let tag = match &mut state.waiters {
            Waiters::Pipelined(_) => None,
            Waiters::Multiplexed { pending, tags } => match tags.take(Instant::now()) {
                Some(tag) => {
                    // A tag back from quarantine: its abandoned request is forgotten.
                    pending.remove(&tag);
                    Some(tag)
                }
                None => return Err(tags.next_release().map_or(Wait::Slot, Wait::Release)),
            },
        };
        state.in_flight += 1;
        Ok(Permit { tag })
    }

    /// Gives back a permit that will not be used.
    pub(crate) fn release(&self, permit: Permit) {
        let mut state = self.lock();
        if let (Waiters::Multiplexed { tags, .. }, Some(tag)) = (&mut state.waiters, permit.tag) {
            tags.free(tag);
        }
        self.free_slot(state);
    }

    /// A slot is free again: wake the clients waiting for one (under the lock, which
    /// keeps the list's room for the next wait).
    fn free_slot(&self, mut state: MutexGuard<'_, State<Resp>>) {
        state.in_flight = state.in_flight.saturating_sub(1);
        for waker in state.waiting.drain(..) {
            waker.wake();
        }
    }

    /// Sends the request of `permit`: its waiter is registered and its frame queued
    /// (by `send`) under one lock, so that its response always finds it and pipelined
    /// requests are registered in the order their frames are queued. On an error
    /// nothing stays registered and the permit is given back.
    pub(crate) fn send(
        &self,
        permit: Permit,
        waiter: oneshot::Sender<Resp>,
        send: impl FnOnce() -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut state = self.lock();
        if state.closed {
            drop(state);
            self.release(permit);
            return Err(Error::closed());
        }
        match (&mut state.waiters, permit.tag) {
            (Waiters::Pipelined(queue), _) => queue.push_back(waiter),
            (Waiters::Multiplexed { pending, .. }, Some(tag)) => {
                pending.insert(tag, Waiter::Waiting(waiter));
            }
            (Waiters::Multiplexed { .. }, None) => {
                drop(state);
                self.release(permit);
                return Err(Error::closed());
            }
        }
        if let Err(err) = send() {
            match (&mut state.waiters, permit.tag) {
                (Waiters::Pipelined(queue), _) => {
                    queue.pop_back();
                }
                (Waiters::Multiplexed { pending, tags }, Some(tag)) => {
                    pending.remove(&tag);
                    tags.free(tag);
                }
                (Waiters::Multiplexed { .. }, None) => {}
            }
            self.free_slot(state);
            return Err(err);
        }
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The dispatcher: hands `response` (with `tag` in the multiplexed mode) to the
    /// call waiting for it.
    pub(crate) fn route(&self, tag: Option<u64>, response: Resp) -> Routed<Resp> {
        let mut state = self.lock();
        let State { waiters, stats, .. } = &mut *state;
        let delivered = match waiters {
            Waiters::Pipelined(queue) => {
                let Some(waiter) = queue.pop_front() else {
                    stats.unsolicited += 1;
                    return Routed::Unsolicited(response);
                };
                if waiter.send(response).is_err() {
                    // Its caller gave up; the slot was held for it until now.
                    stats.late += 1;
                }
                true
            }
            Waiters::Multiplexed { pending, tags } => {
                let Some(tag) = tag else {
                    stats.unsolicited += 1;
                    return Routed::Unsolicited(response);
                };
                match pending.remove(&tag) {
                    Some(Waiter::Waiting(waiter)) => {
                        if waiter.send(response).is_err() {
                            // Given up on at this very moment: its future, under this
                            // lock, would have found it delivered.
                            stats.late += 1;
                        }
                        tags.free(tag);
                        true
                    }
                    Some(Waiter::Abandoned) => {
                        // The answer to a request given up on: its tag stays in
                        // quarantine.
                        stats.late += 1;
                        false
                    }
                    None => {
                        stats.unknown_tag += 1;
                        tracing::debug!(tag, "client: a response with an unknown tag; dropped");
                        false
                    }
                }
            }
        };
        if delivered {
            self.free_slot(state);
        }
        Routed::Delivered
    }

    /// A response future finished, or was dropped while still `waiting` for its
    /// response: a multiplexed request given up on frees its slot and quarantines its
    /// tag. Whether the response came first is told under the lock the dispatcher
    /// routes under, so a tag freed by a delivery is never taken for one given up.
    pub(crate) fn finish(&self, tag: Option<u64>, waiting: Option<&mut oneshot::Receiver<Resp>>) {
        if let (Some(tag), Some(response)) = (tag, waiting) {
            self.abandon(tag, response);
        }
        let before = self.outstanding.fetch_sub(1, Ordering::AcqRel);
        if before == DROPPED | 1 {
            self.close();
        }
    }

    /// A multiplexed request given up on, unless its response came first: the
    /// tagger's cancel message, if it has one, is sent for it.
    fn abandon(&self, tag: u64, response: &mut oneshot::Receiver<Resp>) {
        let mut state = self.lock();
        response.close();
        if response.try_recv().is_ok() {
            return;
        }
        let Waiters::Multiplexed { pending, tags } = &mut state.waiters else {
            return;
        };
        let Some(waiter @ Waiter::Waiting(_)) = pending.get_mut(&tag) else {
            return;
        };
        *waiter = Waiter::Abandoned;
        tags.quarantine(tag, Instant::now());
        self.free_slot(state);
        if let Some(cancel) = self.connection.get().and_then(|c| c.cancel.as_ref()) {
            cancel(tag);
        }
    }

    /// A clone of the client is made.
    pub(crate) fn clone_client(&self) {
        self.clients.fetch_add(1, Ordering::AcqRel);
    }

    /// A client is gone; once the last one is: close the connection now, or once the
    /// last response is in (unless the flight is a peer's).
    pub(crate) fn drop_client(&self) {
        if self.clients.fetch_sub(1, Ordering::AcqRel) != 1 || !self.close_when_dropped {
            return;
        }
        let before = self.outstanding.fetch_or(DROPPED, Ordering::AcqRel);
        if before == 0 {
            self.close();
        }
    }

    /// The dispatcher is gone (the connection closed): every waiter is dropped, so
    /// the calls waiting fail with the close reason.
    pub(crate) fn close_all(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.in_flight = 0;
        let waiting = std::mem::take(&mut state.waiting);
        let waiters: Vec<oneshot::Sender<Resp>> = match &mut state.waiters {
            Waiters::Pipelined(queue) => std::mem::take(queue).into_iter().collect(),
            Waiters::Multiplexed { pending, .. } => std::mem::take(pending)
                .into_values()
                .filter_map(|waiter| match waiter {
                    Waiter::Waiting(sender) => Some(sender),
                    Waiter::Abandoned => None,
                })
                .collect(),
        };
        drop(state);
        drop(waiters);
        waiting.into_iter().for_each(Waker::wake);
    }
}
