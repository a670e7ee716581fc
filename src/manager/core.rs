//! What every manager shares: its endpoint and running state, the connection table,
//! the counters, the shutdown signals, and the code that turns an I/O object into a
//! running connection.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;
use tracing::Instrument;

use super::engine::Bounds;
use super::stats::{Counters, Stats};
use super::table::{Entry, Table};
use crate::app::{is_rejection, Acceptor};
use crate::error::{BoxError, Error};
use crate::framer::FramerSwitch;
use crate::tendril::driver::{panic_error, Closed, Driver};
use crate::tendril::io::budget::{frame_len, Budget};
use crate::tendril::io::{FrameIo, StreamIo};
use crate::tendril::{
    Addr, CloseReason, ConnectionConfig, ConnectionInfo, Control, Shared, Tendril,
};
use crate::wrap::{BoxIo, Io, PeerCredentials, ProxyHeader, TlsInfo};

/// Connection ids, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The signals a manager sends its accept loop and its connections.
#[derive(Debug, Clone, Default)]
pub(crate) struct Signals {
    /// Stop accepting.
    pub(crate) accept: CancellationToken,
    /// Stop reading, finish in-flight frames, flush, close.
    pub(crate) graceful: CancellationToken,
    /// Close now.
    pub(crate) abort: CancellationToken,
}

/// What the transport knows about a new connection's stream.
#[derive(Debug, Default)]
pub(crate) struct StreamFacts {
    pub(crate) tls: Option<TlsInfo>,
    pub(crate) peer: Option<PeerCredentials>,
    pub(crate) proxy: Option<ProxyHeader>,
}

/// A manager's shared state.
pub(crate) struct Core {
    pub(crate) transport: Arc<str>,
    pub(crate) endpoint: Addr,
    pub(crate) signals: Signals,
    pub(crate) counters: Counters,
    pub(crate) tracker: TaskTracker,
    /// Closed connections lingering: waited for by a graceful shutdown too.
    lingering: TaskTracker,
    pub(crate) config: ConnectionConfig,
    pub(crate) max_connections: usize,
    displace_after: Option<Duration>,
    /// The bytes all connections' buffers hold beyond their uncounted chunks.
    pub(crate) budget: Arc<Budget>,
    /// Where it is bound, once started (or, for UDP, once it connected).
    local: OnceLock<Addr>,
    /// Started (accepting) at `local`.
    listening: AtomicBool,
    table: Mutex<Table>,
}

impl Core {
    pub(crate) fn new(
        transport: &str,
        endpoint: Addr,
        config: ConnectionConfig,
        bounds: Bounds,
    ) -> Self {
        Core {
            transport: transport.into(),
            endpoint,
            signals: Signals::default(),
            counters: Counters::default(),
            tracker: TaskTracker::new(),
            lingering: TaskTracker::new(),
            config,
            max_connections: bounds.max_connections,
            displace_after: bounds.displace_idle_after,
            budget: Budget::new(bounds.memory_budget),
            local: OnceLock::new(),
            listening: AtomicBool::new(false),
            table: Mutex::default(),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // The table holds plain data: a panic elsewhere leaves it consistent.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that the manager listens at `local`.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] if it was started before, or stopped.
    pub(crate) fn set_listening(&self, local: Addr) -> Result<(), Error> {
        self.check_startable()?;
        if self.local.set(local).is_err() {
            return Err(Error::config("the manager was already bound"));
        }
        self.listening.store(true, Ordering::Release);
        Ok(())
    }

    /// Records where the manager is bound without accepting (a UDP manager that only
    /// connects out); false if it was bound already.
    pub(crate) fn set_local(&self, local: Addr) -> bool {
        self.local.set(local).is_ok()
    }

    /// Fails if the manager cannot be started (started before, stopped).
    pub(crate) fn check_startable(&self) -> Result<(), Error> {
        if self.listening.load(Ordering::Acquire) {
            return Err(Error::config("the manager was already started"));
        }
        if self.signals.accept.is_cancelled() {
            return Err(Error::config("the manager was stopped or shut down"));
        }
        Ok(())
    }

    /// Where the manager listens, once started.
    pub(crate) fn local(&self) -> Option<&Addr> {
        self.local.get()
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.local.get().and_then(Addr::as_inet)
    }

    /// True between a successful start and `stop`/`shutdown`.
    pub(crate) fn running(&self) -> bool {
        self.listening.load(Ordering::Acquire) && !self.signals.accept.is_cancelled()
    }

    /// The (local, remote) addresses of every open connection.
    pub(crate) fn connections(&self) -> Vec<(Addr, Addr)> {
        self.table().open().map(|(key, _)| key.clone()).collect()
    }

    /// The Tendril of every open connection, type-erased.
    pub(crate) fn tendrils(&self) -> Vec<Arc<dyn std::any::Any + Send + Sync>> {
        self.table()
            .open()
            .map(|(_, entry)| entry.tendril.clone())
            .collect()
    }

    /// The newest open connection between `local` and `remote`, type-erased.
    pub(crate) fn find(
        &self,
        local: &Addr,
        remote: &Addr,
    ) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.table()
            .find(&(local.clone(), remote.clone()))
            .map(|entry| entry.tendril.clone())
    }

    /// True when no connection is held, closing ones included.
    pub(crate) fn is_empty(&self) -> bool {
        self.table().len() == 0
    }

    /// A snapshot of the counters, with the connections held and their traffic.
    pub(crate) fn stats(&self) -> Stats {
        let table = self.table();
        // Under the lock: a connection leaving now is counted once, here or there.
        self.counters.snapshot(
            table.len(),
            table.closing(),
            table.traffic(),
            self.budget.used(),
        )
    }

    /// True once the manager shuts down (gracefully or not): no new connections.
    pub(crate) fn is_closing(&self) -> bool {
        self.signals.abort.is_cancelled() || self.signals.graceful.is_cancelled()
    }

    /// True when `max_connections` are held (closing ones included) or being wrapped;
    /// connections displaced and not yet gone do not count.
    pub(crate) fn at_capacity(&self) -> bool {
        let wrapping = self.counters.wrapping.load(Ordering::Relaxed) as usize;
        self.table().held() + wrapping >= self.max_connections
    }

    /// True if a newcomer may be served: there is room, or the connection idle
    /// longest was displaced for it.
    pub(crate) fn admit(&self) -> bool {
        let wrapping = self.counters.wrapping.load(Ordering::Relaxed) as usize;
        let mut table = self.table();
        let now = Instant::now();
        if table.held() + wrapping < self.max_connections {
            // Near the limit, the table notes who is quiet, so that idleness is known
            // when it fills.
            table.observe(now, self.max_connections);
            return true;
        }
        let Some(after) = self.displace_after else {
            return false;
        };
        if table.displace(now, after) {
            Counters::bump(&self.counters.displaced);
            return true;
        }
        false
    }

    /// Registers a connection on `io` and spawns its task: the acceptor's `make` is
    /// called with the connection's [`Tendril`], then the application it returns runs
    /// until the connection closes. The returned receiver tells whether the acceptor
    /// accepted.
    pub(crate) fn spawn<A, In, Out>(
        self: &Arc<Self>,
        io: BoxIo,
        local: Addr,
        remote: Addr,
        framers: FramerSwitch<In, Out>,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, oneshot::Receiver<Result<(), Error>>)
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let proxy = io.proxy_header().cloned();
        // Behind a load balancer, the connection is the client's: its addresses are
        // the ones the PROXY header carries (a LOCAL header keeps the socket's).
        let (local, remote) = match proxy.as_ref().and_then(ProxyHeader::relayed) {
            Some((source, destination)) => (Addr::Inet(destination), Addr::Inet(source)),
            None => (local, remote),
        };
        let facts = StreamFacts {
            tls: io.tls_info(),
            peer: io.peer_credentials(),
            proxy,
        };
        self.spawn_io(StreamIo::new(io, framers), local, remote, facts, acceptor)
    }

    /// [`spawn`](Self::spawn) on any frame transport (datagram peers bring their own).
    pub(crate) fn spawn_io<A, In, Out, T>(
        self: &Arc<Self>,
        framed: T,
        local: Addr,
        remote: Addr,
        facts: StreamFacts,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, oneshot::Receiver<Result<(), Error>>)
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
        T: FrameIo<In, Out>,
    {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let key = (local.clone(), remote.clone());
        let info = ConnectionInfo::new(id, self.transport.clone(), local.clone(), remote.clone());
        let shared = Shared::new(info, self.config.outbound_queue, frame_len::<Out>, facts);
        let control: Arc<dyn Control> = shared.clone();
        let mut framed = framed;
        framed.set_charge(self.budget.charge(Arc::downgrade(&control)));
        // Frames queued through its handles are charged too, on their own account.
        shared
            .queue
            .set_charge(self.budget.charge(Arc::downgrade(&control)));
        let tendril = Tendril::from_shared(shared.clone());
        {
            let mut table = self.table();
            table.insert(
                key.clone(),
                Entry::new(id, Arc::new(tendril.clone()), control),
            );
            // Under the table lock: a shutdown either saw this entry or is seen here.
            if self.signals.abort.is_cancelled() {
                shared.shutdown(false);
            } else if self.signals.graceful.is_cancelled() {
                shared.shutdown(true);
            }
        }
        Counters::bump(&self.counters.total);

        let span =
            tracing::debug_span!("tendril", transport = %self.transport, %local, %remote, id);
        // A panicking acceptor fails this connection, not the loop that called it.
        let make = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            acceptor.call(tendril.clone())
        }));
        let (accepted, accepted_rx) = oneshot::channel();
        let guard = Guard {
            tracked: Some(Tracked {
                core: self.clone(),
                key,
                id,
            }),
            shared: shared.clone(),
        };
        let core = self.clone();
        let task = async move {
            tracing::debug!("connection opened");
            let made = match make {
                Ok(make) => make.await.map_err(Into::into),
                Err(panic) => Err(BoxError::from(panic_error(panic))),
            };
            let app = match made {
                Ok(app) => {
                    let _ = accepted.send(Ok(()));
                    app
                }
                Err(err) => {
                    let reason = if is_rejection(&err) {
                        Counters::bump(&core.counters.rejected);
                        tracing::debug!(reason = %err, "connection rejected");
                        CloseReason::Rejected
                    } else {
                        tracing::warn!(error = %err, "acceptor failed");
                        CloseReason::error(Error::application(err.to_string()))
                    };
                    let _ = accepted.send(Err(Error::application(err)));
                    guard.close(reason);
                    return;
                }
            };
            let run = Driver::new(framed, app, shared, core.config.clone()).run();
            match std::panic::AssertUnwindSafe(run).catch_unwind().await {
                Ok(Closed { reason, lingering }) => {
                    let tracked = guard.close(reason);
                    if let Some(lingering) = lingering {
                        if let Some(tracked) = &tracked {
                            tracked.set_lingering();
                        }
                        // In the table until the socket is gone.
                        let abort = core.signals.abort.clone();
                        core.lingering.spawn(async move {
                            lingering.run(abort).await;
                            drop(tracked);
                        });
                    }
                }
                Err(panic) => {
                    guard.close(CloseReason::error(panic_error(panic)));
                }
            }
        };
        self.tracker.spawn(task.instrument(span));
        (tendril, accepted_rx)
    }

    /// Waits for the acceptor to be ready for another connection.
    pub(crate) async fn acceptor_ready<A, T>(acceptor: &mut A) -> Result<(), BoxError>
    where
        A: Service<T>,
        A::Error: Into<BoxError>,
    {
        poll_fn(|cx| acceptor.poll_ready(cx))
            .await
            .map_err(Into::into)
    }

    /// Stop reading, finish in-flight frames and flush, then close; after `deadline`,
    /// close what is left. True if every connection finished in time.
    pub(crate) fn graceful_shutdown(
        self: &Arc<Self>,
        deadline: Duration,
    ) -> impl Future<Output = bool> + Send + 'static {
        let core = self.clone();
        core.signals.accept.cancel();
        core.signal_all(&core.signals.graceful, true);
        core.tracker.close();
        async move {
            let closed = async {
                core.tracker.wait().await;
                // Every connection has closed: the lingering ones are all that is left.
                core.lingering.close();
                core.lingering.wait().await;
            };
            let finished = tokio::time::timeout(deadline, closed).await.is_ok();
            if !finished {
                core.signal_all(&core.signals.abort, false);
                core.tracker.wait().await;
                core.lingering.close();
                core.lingering.wait().await;
            }
            finished
        }
    }

    /// Close every connection now and stop accepting.
    pub(crate) fn shutdown(&self) {
        self.signals.accept.cancel();
        self.signal_all(&self.signals.abort, false);
        self.tracker.close();
    }

    /// Cancels `token` and tells every connection, under the table lock (see `spawn`
    /// for connections being added meanwhile).
    fn signal_all(&self, token: &CancellationToken, graceful: bool) {
        let table = self.table();
        token.cancel();
        for entry in table.all() {
            entry.control.shutdown(graceful);
        }
    }
}

/// A connection's place in its manager's table, given up when dropped: once its socket
/// is gone.
pub(crate) struct Tracked {
    core: Arc<Core>,
    key: (Addr, Addr),
    id: u64,
}

impl Tracked {
    /// The connection lingers: a full table may displace it first.
    fn set_lingering(&self) {
        self.core.table().set_lingering(&self.key, self.id);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut table = self.core.table();
        if let Some(entry) = table.remove(&self.key, self.id) {
            // Under the lock, as `stats` reads: its traffic moves to the closed totals.
            self.core.counters.add_closed(entry.control.traffic());
        }
    }
}

/// Publishes how a connection closed, even if its task panicked or was dropped, and
/// hands over its place in the table.
struct Guard<In, Out> {
    tracked: Option<Tracked>,
    shared: Arc<Shared<In, Out>>,
}

impl<In, Out> Guard<In, Out> {
    /// The connection's frame loop ended with `reason`: it is now closing.
    fn close(mut self, reason: CloseReason) -> Option<Tracked> {
        self.publish(reason);
        self.tracked.take()
    }

    fn publish(&mut self, reason: CloseReason) {
        if let Some(tracked) = &self.tracked {
            let core = &tracked.core;
            match reason {
                CloseReason::Error(ref err) => {
                    Counters::bump(&core.counters.failed);
                    if err.is_wrap() {
                        Counters::bump(&core.counters.wrap_failed);
                    }
                    if err.is_limit() {
                        Counters::bump(&core.counters.shed);
                    }
                }
                CloseReason::Idle => Counters::bump(&core.counters.evicted),
                CloseReason::PeerClosed => Counters::bump(&core.counters.closed_by_peer),
                CloseReason::Local => Counters::bump(&core.counters.closed_locally),
                _ => {}
            }
            core.table().set_closing(&tracked.key, tracked.id);
        }
        log_close(&reason);
        self.shared.set_closed(reason);
    }
}

/// The one event of a connection's close, in its span: at `info` when a limit, a guard
/// or the framing ended it (the operator wants to see those, once each), at `warn` for
/// the application's own failures, at `debug` for ordinary ends (the peer or this side
/// closing, an I/O error such as a reset).
fn log_close(reason: &CloseReason) {
    match reason {
        CloseReason::Error(err)
            if err.is_framing() || err.is_timeout() || err.is_wrap() || err.is_limit() =>
        {
            tracing::info!(reason = %format_args!("{err:#}"), "connection closed by a limit");
        }
        CloseReason::Error(err) if err.is_application() || err.is_panic() => {
            tracing::warn!(reason = %format_args!("{err:#}"), "connection closed by the application");
        }
        _ => tracing::debug!(reason = %reason, "connection closed"),
    }
}

impl<In, Out> Drop for Guard<In, Out> {
    fn drop(&mut self) {
        if self.tracked.is_some() {
            // A task dropped without a reason was cancelled with its runtime.
            self.publish(CloseReason::Local);
        }
    }
}
