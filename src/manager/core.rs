//! What every manager shares: the connection table, the counters, the shutdown signals,
//! and the code that turns an I/O object into a running connection.

use std::any::Any;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;
use tracing::Instrument;

use super::stats::Counters;
use crate::app::{is_rejection, Acceptor};
use crate::error::{BoxError, Error};
use crate::framer::FramerSwitch;
use crate::tendril::driver::{panic_error, Driver};
use crate::tendril::io::{FrameIo, StreamIo};
use crate::tendril::traffic::Totals;
use crate::tendril::{
    Addr, CloseReason, ConnectionConfig, ConnectionInfo, Control, Shared, Tendril,
};
use crate::wrap::{BoxIo, Io, TlsInfo};

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

/// A live connection: its Tendril (type-erased, for lookups) and its control.
struct Entry {
    tendril: Arc<dyn Any + Send + Sync>,
    control: Arc<dyn Control>,
}

type Table = HashMap<(Addr, Addr), Entry>;

/// A manager's shared state.
pub(crate) struct Core {
    pub(crate) transport: Arc<str>,
    pub(crate) signals: Signals,
    pub(crate) counters: Arc<Counters>,
    pub(crate) tracker: TaskTracker,
    pub(crate) config: ConnectionConfig,
    pub(crate) max_connections: usize,
    table: Mutex<Table>,
}

impl Core {
    pub(crate) fn new(transport: &str, config: ConnectionConfig, max_connections: usize) -> Self {
        Core {
            transport: transport.into(),
            signals: Signals::default(),
            counters: Arc::default(),
            tracker: TaskTracker::new(),
            config,
            max_connections,
            table: Mutex::default(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table holds plain data: a panic elsewhere leaves it consistent.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live connection between `local` and `remote`, type-erased.
    pub(crate) fn find(&self, local: &Addr, remote: &Addr) -> Option<Arc<dyn Any + Send + Sync>> {
        self.table()
            .get(&(local.clone(), remote.clone()))
            .map(|entry| entry.tendril.clone())
    }

    /// The (local, remote) addresses of every live connection.
    pub(crate) fn connections(&self) -> Vec<(Addr, Addr)> {
        self.table().keys().cloned().collect()
    }

    /// A snapshot of the counters, with the traffic of the live connections.
    pub(crate) fn stats(&self) -> super::Stats {
        let table = self.table();
        let mut live = Totals::default();
        for entry in table.values() {
            live += entry.control.traffic();
        }
        // Under the lock: a connection closing now is counted once, here or there.
        self.counters.snapshot(live)
    }

    /// True when no connection is live.
    pub(crate) fn is_empty(&self) -> bool {
        self.table().is_empty()
    }

    /// True once the manager shuts down (gracefully or not): no new connections.
    pub(crate) fn is_closing(&self) -> bool {
        self.signals.abort.is_cancelled() || self.signals.graceful.is_cancelled()
    }

    /// True when `max_connections` are open or being wrapped.
    pub(crate) fn at_capacity(&self) -> bool {
        let wrapping = self.counters.wrapping.load(Ordering::Relaxed) as usize;
        self.table().len() + wrapping >= self.max_connections
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
        let tls = io.tls_info();
        self.spawn_io(StreamIo::new(io, framers), local, remote, tls, acceptor)
    }

    /// [`spawn`](Self::spawn) on any frame transport (datagram peers bring their own).
    pub(crate) fn spawn_io<A, In, Out, T>(
        self: &Arc<Self>,
        framed: T,
        local: Addr,
        remote: Addr,
        tls: Option<TlsInfo>,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, oneshot::Receiver<Result<(), Error>>)
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
        T: FrameIo<In, Out> + Send + 'static,
    {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let key = (local.clone(), remote.clone());
        let info = ConnectionInfo::new(id, self.transport.clone(), local.clone(), remote.clone());
        let shared = Shared::new(info, self.config.outbound_queue, tls);
        let tendril = Tendril::from_shared(shared.clone());
        {
            let mut table = self.table();
            table.insert(
                key.clone(),
                Entry {
                    tendril: Arc::new(tendril.clone()),
                    control: shared.clone(),
                },
            );
            // Under the table lock: a shutdown either saw this entry or is seen here.
            if self.signals.abort.is_cancelled() {
                shared.shutdown(false);
            } else if self.signals.graceful.is_cancelled() {
                shared.shutdown(true);
            }
        }
        Counters::bump(&self.counters.open);
        Counters::bump(&self.counters.total);

        let span =
            tracing::debug_span!("tendril", transport = %self.transport, %local, %remote, id);
        // A panicking acceptor fails this connection, not the loop that called it.
        let make = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            acceptor.call(tendril.clone())
        }));
        let (accepted, accepted_rx) = oneshot::channel();
        let guard = Guard {
            core: self.clone(),
            shared: shared.clone(),
            key,
            reason: None,
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
                    guard.finish(reason);
                    return;
                }
            };
            let run = Driver::new(
                framed,
                app,
                shared,
                core.config.clone(),
                core.counters.clone(),
            )
            .run();
            let reason = match std::panic::AssertUnwindSafe(run).catch_unwind().await {
                Ok(reason) => reason,
                Err(panic) => CloseReason::error(panic_error(panic)),
            };
            guard.finish(reason);
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
        deadline: std::time::Duration,
    ) -> impl Future<Output = bool> + Send + 'static {
        let core = self.clone();
        core.signals.accept.cancel();
        core.signal_all(&core.signals.graceful, true);
        core.tracker.close();
        async move {
            let finished = tokio::time::timeout(deadline, core.tracker.wait())
                .await
                .is_ok();
            if !finished {
                core.signal_all(&core.signals.abort, false);
                core.tracker.wait().await;
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

    /// Cancels `token` and tells every live connection, under the table lock (see
    /// `spawn` for connections being added meanwhile).
    fn signal_all(&self, token: &CancellationToken, graceful: bool) {
        let table = self.table();
        token.cancel();
        for entry in table.values() {
            entry.control.shutdown(graceful);
        }
    }
}

/// Removes a connection from its manager's table and publishes how it closed, even if
/// its task panicked or was dropped.
struct Guard<In, Out> {
    core: Arc<Core>,
    shared: Arc<Shared<In, Out>>,
    key: (Addr, Addr),
    reason: Option<CloseReason>,
}

impl<In, Out> Guard<In, Out> {
    fn finish(mut self, reason: CloseReason) {
        self.reason = Some(reason);
    }
}

impl<In, Out> Drop for Guard<In, Out> {
    fn drop(&mut self) {
        {
            let mut table = self.core.table();
            table.remove(&self.key);
            self.core.counters.add_closed(self.shared.traffic.load());
        }
        self.core.counters.open.fetch_sub(1, Ordering::Relaxed);
        // A task dropped without a reason was cancelled with its runtime.
        let reason = self.reason.take().unwrap_or(CloseReason::Local);
        match reason {
            CloseReason::Error(ref err) => {
                Counters::bump(&self.core.counters.failed);
                if err.is_wrap() {
                    Counters::bump(&self.core.counters.wrap_failed);
                }
            }
            CloseReason::Idle => Counters::bump(&self.core.counters.evicted),
            _ => {}
        }
        tracing::debug!(reason = %reason, "connection closed");
        self.shared.set_closed(reason);
    }
}
