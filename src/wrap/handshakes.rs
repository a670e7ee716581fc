//! What the wrappers that wait for their peer before the connection starts share (the
//! TLS handshakes, the PROXY protocol header): the timeout, the cap on waits at once,
//! shedding under a flood, and how a finished wait hands the stream on.
//!
//! When every slot is taken, the wrapper does not simply wait (that would stop the
//! accept loop behind a flood of silent clients): it sheds the wait that has gone
//! longest without a word from its peer (no ClientHello, no byte of the header),
//! whose slot then goes to the newcomer. A wait past its peer's first word is shed
//! only once it has run for a second (a real client on any link finishes by then, or
//! is slow enough that the newcomer should have its place). Only when none qualifies
//! does readiness wait for a slot. The client side's own handshakes (outgoing
//! connections) are never shed: there a full set of slots makes the next connect
//! wait. The candidates are a [`ShedQueue`], as for every bound that makes room.

use std::cmp::Reverse;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, PollSemaphore};
use tower::{Service, ServiceExt};

use crate::error::BoxError;
use crate::shed::ShedQueue;

/// Default number of waits in progress at once per wrapper: handshakes cost CPU and
/// memory before the peer has proven anything.
pub(crate) const DEFAULT_MAX_HANDSHAKES: usize = 256;

/// What a wrapper's failed waits say: shed for a newcomer, or out of time.
#[derive(Clone, Copy)]
pub(crate) struct Failures {
    pub(crate) shed: fn() -> BoxError,
    pub(crate) timeout: fn(Duration) -> BoxError,
}

/// A handshake past its ClientHello may be shed after running this long.
const SHED_STARTED_AFTER: Duration = Duration::from_secs(1);

/// The handshake slots of one wrapper (shared by its clones).
pub(crate) struct Handshakes {
    slots: PollSemaphore,
    max: usize,
    /// The slot `poll_ready` reserved for the next `call`.
    reserved: Option<OwnedSemaphorePermit>,
    /// This waiter already shed a handshake for its slot.
    shed_for_me: bool,
    running: Arc<Mutex<ShedQueue<Arc<Handshake>>>>,
    timeout: Duration,
    failures: Failures,
}

/// A handshake in progress, as the shed queue sees it.
struct Handshake {
    started: Instant,
    /// Its peer said something (its ClientHello arrived, its header began).
    hello: Arc<AtomicBool>,
    /// Told to give up its slot.
    shed: CancellationToken,
    /// Finished, however: a stale candidate.
    done: AtomicBool,
}

impl Handshake {
    /// Its rank for shedding: silent ones first, the longest waiting first; then those
    /// past their ClientHello that have run a second, the oldest first.
    fn rank(&self) -> Option<(bool, Reverse<Instant>)> {
        if self.done.load(Ordering::Relaxed) || self.shed.is_cancelled() {
            return None;
        }
        let silent = !self.hello.load(Ordering::Relaxed);
        (silent || self.started.elapsed() >= SHED_STARTED_AFTER)
            .then_some((silent, Reverse(self.started)))
    }
}

/// Marks a handshake done when its future ends, however it ends.
struct Registered(Arc<Handshake>);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.done.store(true, Ordering::Relaxed);
    }
}

fn lock<T>(running: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere leaves it consistent.
    running.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Handshakes {
    pub(crate) fn new(max: usize, timeout: Duration, failures: Failures) -> Self {
        let max = max.max(1);
        Handshakes {
            slots: PollSemaphore::new(Arc::new(Semaphore::new(max))),
            max,
            reserved: None,
            shed_for_me: false,
            running: Arc::default(),
            timeout,
            failures,
        }
    }

    /// Sheds the handshake that qualifies most; true if one was.
    fn shed_one(&self) -> bool {
        match lock(&self.running).shed_best(|handshake| handshake.rank()) {
            Some(handshake) => {
                handshake.shed.cancel();
                true
            }
            None => false,
        }
    }

    /// Ready once a handshake slot is reserved; with every slot taken, sheds a
    /// handshake (see the module) and waits for its slot.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.reserved.is_none() {
            match self.slots.poll_acquire(cx) {
                Poll::Ready(Some(permit)) => {
                    self.reserved = Some(permit);
                    self.shed_for_me = false;
                }
                Poll::Ready(None) => return Poll::Ready(Err("handshake slots closed".into())),
                Poll::Pending => {
                    // The shed handshake's slot wakes this waiter when it is freed.
                    if !self.shed_for_me {
                        self.shed_for_me = self.shed_one();
                    }
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Runs `handshake` in the reserved slot, within the timeout, then calls `inner`
    /// with the stream it produced. `hello` is set once the peer said something (its
    /// ClientHello is in); `None` (a client's own handshakes) is never shed.
    pub(crate) fn run<H, T, E, S>(
        &mut self,
        handshake: H,
        hello: Option<Arc<AtomicBool>>,
        inner: S,
    ) -> impl Future<Output = Result<S::Response, BoxError>> + Send + 'static
    where
        H: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + Send + 'static,
        S: Service<T> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send,
    {
        // Called without `poll_ready` (a contract breach): run without a slot.
        let slot = self.reserved.take();
        let (timeout, failures) = (self.timeout, self.failures);
        let registered = hello.map(|hello| {
            let handshake = Arc::new(Handshake {
                started: Instant::now(),
                hello,
                shed: CancellationToken::new(),
                done: AtomicBool::new(false),
            });
            let mut running = lock(&self.running);
            running.push_back(handshake.clone());
            running.compact(self.max, |handshake| handshake.rank().is_none());
            Registered(handshake)
        });
        async move {
            let shed = registered.as_ref().map(|r| r.0.shed.clone());
            let shed = async move {
                match shed {
                    Some(shed) => shed.cancelled_owned().await,
                    None => std::future::pending().await,
                }
            };
            let finished = tokio::select! {
                biased;
                _ = shed => return Err((failures.shed)()),
                finished = tokio::time::timeout(timeout, handshake) => finished,
            };
            drop(registered);
            let stream = match finished {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(err.into()),
                Err(_) => return Err((failures.timeout)(timeout)),
            };
            drop(slot);
            inner.oneshot(stream).await.map_err(Into::into)
        }
    }
}

impl Clone for Handshakes {
    /// Shares the slots and the running handshakes; the reservation stays with the
    /// original (a clone is not ready until it asks).
    fn clone(&self) -> Self {
        Handshakes {
            slots: self.slots.clone(),
            max: self.max,
            reserved: None,
            shed_for_me: false,
            running: self.running.clone(),
            timeout: self.timeout,
            failures: self.failures,
        }
    }
}

impl fmt::Debug for Handshakes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshakes")
            .field("max", &self.max)
            .field("available", &self.slots.available_permits())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
