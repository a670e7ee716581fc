//! What the TLS wrappers share: the handshake timeout, the cap on handshakes at once,
//! shedding under a flood, and how a finished handshake hands the stream on.
//!
//! When every slot is taken, the wrapper does not simply wait (that would stop the
//! accept loop behind a flood of silent clients): it sheds the handshake that has
//! waited longest for its ClientHello, whose slot then goes to the newcomer. A
//! handshake past its ClientHello is shed only once it has run for a second (a real
//! client on any link finishes by then, or is slow enough that the newcomer should
//! have its place). Only when none qualifies does readiness wait for a slot. The
//! client side's own handshakes (outgoing connections) are never shed: there a full
//! set of slots makes the next connect wait, as before.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, PollSemaphore};
use tower::Service;

use crate::error::BoxError;
use crate::wrap::chain::ready_call;
use crate::wrap::{HandshakeShed, HandshakeTimeout};

/// Default handshake timeout: long enough for a slow mobile link, short enough that a
/// client which connects and says nothing does not hold a slot for long.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default number of handshakes in progress at once per wrapper: handshakes cost CPU
/// and memory before the peer has proven anything.
pub(crate) const DEFAULT_MAX_HANDSHAKES: usize = 256;

/// A handshake past its ClientHello may be shed after running this long.
const SHED_STARTED_AFTER: Duration = Duration::from_secs(1);

/// The handshake slots of one wrapper (shared by its clones).
pub(crate) struct Handshakes {
    slots: PollSemaphore,
    /// The slot `poll_ready` reserved for the next `call`.
    reserved: Option<OwnedSemaphorePermit>,
    /// This waiter already shed a handshake for its slot.
    shed_for_me: bool,
    running: Arc<Running>,
    timeout: Duration,
}

/// The handshakes in progress, for shedding.
#[derive(Default)]
struct Running {
    list: Mutex<Vec<Handshake>>,
    next: AtomicU64,
}

struct Handshake {
    id: u64,
    started: Instant,
    /// Its ClientHello arrived.
    hello: Arc<AtomicBool>,
    shed: CancellationToken,
}

impl Running {
    fn add(&self, hello: Arc<AtomicBool>) -> (u64, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let shed = CancellationToken::new();
        self.lock().push(Handshake {
            id,
            started: Instant::now(),
            hello,
            shed: shed.clone(),
        });
        (id, shed)
    }

    fn remove(&self, id: u64) {
        let mut list = self.lock();
        if let Some(at) = list.iter().position(|handshake| handshake.id == id) {
            list.swap_remove(at);
        }
    }

    /// Sheds the handshake waiting longest for its ClientHello, else the oldest one
    /// past it that has run a second; true if one was.
    fn shed_one(&self) -> bool {
        let list = self.lock();
        let live = list
            .iter()
            .filter(|handshake| !handshake.shed.is_cancelled());
        let silent = live
            .clone()
            .filter(|handshake| !handshake.hello.load(Ordering::Relaxed))
            .min_by_key(|handshake| handshake.started);
        let victim = silent.or_else(|| {
            live.filter(|handshake| handshake.started.elapsed() >= SHED_STARTED_AFTER)
                .min_by_key(|handshake| handshake.started)
        });
        match victim {
            Some(handshake) => {
                handshake.shed.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Handshake>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes a handshake off the list when it ends, however it ends.
struct Registered {
    running: Arc<Running>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.running.remove(self.id);
    }
}

impl Handshakes {
    pub(crate) fn new(max: usize, timeout: Duration) -> Self {
        Handshakes {
            slots: PollSemaphore::new(Arc::new(Semaphore::new(max.max(1)))),
            reserved: None,
            shed_for_me: false,
            running: Arc::default(),
            timeout,
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
                        self.shed_for_me = self.running.shed_one();
                    }
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Runs `handshake` in the reserved slot, within the timeout, then calls `inner`
    /// with the stream it produced. `hello` is set once the peer's ClientHello is in;
    /// `None` (a client's own handshakes) is never shed.
    pub(crate) fn run<H, T, S>(
        &mut self,
        handshake: H,
        hello: Option<Arc<AtomicBool>>,
        inner: S,
    ) -> impl Future<Output = Result<S::Response, BoxError>> + Send + 'static
    where
        H: Future<Output = std::io::Result<T>> + Send + 'static,
        T: Send + 'static,
        S: Service<T> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send,
    {
        // Called without `poll_ready` (a contract breach): run without a slot.
        let slot = self.reserved.take();
        let timeout = self.timeout;
        let registered = hello.map(|hello| {
            let (id, shed) = self.running.add(hello);
            let registered = Registered {
                running: self.running.clone(),
                id,
            };
            (registered, shed)
        });
        async move {
            let (registered, shed) = registered.unzip();
            let shed = async move {
                match shed {
                    Some(shed) => shed.cancelled_owned().await,
                    None => std::future::pending().await,
                }
            };
            let finished = tokio::select! {
                biased;
                _ = shed => return Err(HandshakeShed.into()),
                finished = tokio::time::timeout(timeout, handshake) => finished,
            };
            drop(registered);
            let stream = match finished {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(err.into()),
                Err(_) => return Err(HandshakeTimeout { after: timeout }.into()),
            };
            drop(slot);
            ready_call(inner, stream).await
        }
    }
}

impl Clone for Handshakes {
    fn clone(&self) -> Self {
        Handshakes {
            slots: self.slots.clone(),
            reserved: None,
            shed_for_me: false,
            running: self.running.clone(),
            timeout: self.timeout,
        }
    }
}
