//! What every manager shares: its endpoint and running state, the connection table,
//! the counters, the bounds and the shutdown signals (the code that turns an I/O
//! object into a running connection is in `spawn`).

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use super::engine::Bounds;
use super::stats::{Counters, Stats};
use super::table::Table;
use crate::error::{BoxError, Error};
use crate::tendril::io::budget::Budget;
use crate::tendril::{Addr, ConnectionConfig};
use crate::wrap::{PeerCredentials, ProxyHeader, TlsInfo};

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
    pub(super) lingering: TaskTracker,
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

    pub(super) fn table(&self) -> MutexGuard<'_, Table> {
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
