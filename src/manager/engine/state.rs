//! [`Engine`]: its state (endpoint, running state, table, counters, bounds), starting,
//! lookups, and shutdown. Running a connection is in `spawn`, accepting in `accept`,
//! connecting out in `connect`.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bounds::{descriptor_cap, Bounds};
use super::entry::{millis, Entry};
use super::sources::{Refusal, Source};
use super::stats::{Counters, Stats};
use super::table::{Shed, Table};
use crate::error::Error;
use crate::tendril::io::budget::Budget;
use crate::tendril::{Addr, ConnectionConfig, Tendril};

/// How far a manager's shutdown has gone (connections are told through their own
/// control; this is what a connection spawned meanwhile is told).
const RUNNING: u8 = 0;
const GRACEFUL: u8 = 1;
const ABORTED: u8 = 2;

/// The connection engine every manager stands on: its endpoint and running state, the
/// driver tasks, the acceptor calls, the table of live connections, the bounds, the
/// counters, stop, shutdown and graceful shutdown. Cheap to clone (clones share the
/// engine).
///
/// A transport holds one and implements [`Manager`](crate::Manager) by returning it;
/// the whole common surface (lookups, stats, stop, shutdown) then works. The engine's
/// own methods are what a transport needs: [`start`](Self::start) to bind,
/// [`listen`](Self::listen) for a listener's accept loop, [`connect`](Self::connect)
/// for a stream it dialled, [`serve`](Self::serve) for one connected stream,
/// [`serve_datagrams`](Self::serve_datagrams) for a connectionless peer,
/// [`admit`](Self::admit) for an accept loop of its own. The built-in transports use
/// these and nothing else of the engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) transport: Arc<str>,
    pub(crate) endpoint: Addr,
    /// Shared by its connections (a connection that changes its own copies it).
    pub(crate) config: Arc<ConnectionConfig>,
    pub(crate) bounds: Bounds,
    pub(crate) counters: Counters,
    /// Accept loops, connections, handshakes in progress, a transport's own tasks.
    pub(crate) tracker: TaskTracker,
    /// Closed connections lingering: waited for by a graceful shutdown too.
    pub(crate) lingering: TaskTracker,
    /// The bytes all connections' buffers hold beyond their uncounted chunks.
    pub(crate) budget: Arc<Budget>,
    /// Accepting stopped (stop, shutdown or graceful shutdown).
    pub(crate) stop: CancellationToken,
    /// A shutdown began (graceful or not): transports stop receiving.
    pub(crate) closing: CancellationToken,
    phase: AtomicU8,
    /// Where it is bound, once started (or bound without listening).
    local: OnceLock<Addr>,
    /// Started (accepting) at `local`.
    listening: AtomicBool,
    table: Mutex<Table>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("transport", &self.inner.transport)
            .field("endpoint", &self.inner.endpoint)
            .field("local", &self.inner.local.get())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `transport` (its registered name) at `endpoint`, with
    /// per-connection `config` and `bounds` across its connections.
    pub fn new(
        transport: &str,
        endpoint: impl Into<Addr>,
        config: ConnectionConfig,
        bounds: Bounds,
    ) -> Self {
        Engine {
            inner: Arc::new(Inner {
                transport: transport.into(),
                endpoint: endpoint.into(),
                config: Arc::new(config),
                bounds,
                counters: Counters::default(),
                tracker: TaskTracker::new(),
                lingering: TaskTracker::new(),
                budget: Budget::new(bounds.memory_budget),
                stop: CancellationToken::new(),
                closing: CancellationToken::new(),
                phase: AtomicU8::new(RUNNING),
                local: OnceLock::new(),
                listening: AtomicBool::new(false),
                table: Mutex::new(Table::new(bounds.per_source)),
            }),
        }
    }

    /// Starts the manager: `bind` binds its endpoint and returns what it bound (a
    /// listener, a socket) with the address it is bound at; from then on the manager
    /// is running there until stopped. `bind` is not called if the manager was
    /// started before or stopped.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] if the manager was started before or stopped; the error
    /// of `bind`, naming the endpoint ([`Error::listen`]: `cannot listen on tcp
    /// 127.0.0.1:7000: Address already in use (os error 98)`).
    pub fn start<T>(&self, bind: impl FnOnce() -> io::Result<(T, Addr)>) -> Result<T, Error> {
        let inner = &self.inner;
        if inner.listening.load(Ordering::Acquire) {
            return Err(Error::config("the manager was already started"));
        }
        if inner.stop.is_cancelled() {
            return Err(Error::config("the manager was stopped or shut down"));
        }
        let (bound, local) = bind().map_err(|err| self.listen_error(err))?;
        if inner.local.set(local).is_err() {
            return Err(Error::config("the manager was already bound"));
        }
        inner.listening.store(true, Ordering::Release);
        Ok(bound)
    }

    /// `err`, from binding this engine's endpoint, naming it.
    pub(crate) fn listen_error(&self, err: io::Error) -> Error {
        let inner = &self.inner;
        Error::listen(format_args!("{} {}", inner.transport, inner.endpoint), err)
    }

    /// Records where the manager is bound without listening (a datagram transport
    /// that only connects out); false if it was bound already.
    pub fn set_local(&self, local: impl Into<Addr>) -> bool {
        self.inner.local.set(local.into()).is_ok()
    }

    /// Runs `task` (a transport's receive loop, say) tracked with the connections, so
    /// that a graceful shutdown waits for it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.tracker.spawn(task);
    }

    /// Resolves once a shutdown began (`shutdown` or `graceful_shutdown`): a
    /// connectionless transport's receive loop stops then (each of its peers is
    /// told through its connection, as every connection is).
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.closing.clone().cancelled_owned()
    }

    /// True if a newcomer from `remote` may be served: its source is within its
    /// limits ([`admit_source`](Self::admit_source)), and there is room, or the
    /// table is full and room was made for it: by the sources' shares (with other
    /// sources holding connections, a newcomer whose source holds its fair share of
    /// `max_connections` is refused, one below it displaces a connection of the
    /// source holding the most), else by shedding the connection idle longest (past
    /// [`Bounds::shed_idle_after`]). False: refuse it. What an accept loop asks for
    /// each accepted stream; [`listen`](Self::listen) does; a refusal is counted
    /// here.
    ///
    /// The table is full at `max_connections`, or earlier where the process's
    /// open-file limit leaves room for fewer (Linux: the soft `RLIMIT_NOFILE` less
    /// 64 and a sixteenth for other files; logged once when a listener starts).
    pub fn admit(&self, remote: &Addr) -> bool {
        let inner = &self.inner;
        let wrapping = inner.counters.wrapping.load(Ordering::Relaxed) as usize;
        let max = self.capacity();
        let now = Instant::now();
        let mut table = self.table();
        let Ok(source) = self.check_source(&mut table, remote, now) else {
            return false;
        };
        if table.held() + wrapping < max {
            // Near the limit, the table notes who is quiet, so that idleness is known
            // when it fills.
            table.observe(now, max);
            return true;
        }
        let shed = table.make_room(source, max, now, inner.bounds.shed_idle_after);
        match shed {
            // It closed before: this is its count. (An open one counts as it closes.)
            Some(Shed::Lingering) => Counters::bump(&inner.counters.shed_idle),
            Some(Shed::Open) => {}
            None => Counters::bump(&inner.counters.refused),
        }
        shed.is_some()
    }

    /// True if a newcomer from `remote` is within its source's limits
    /// ([`Bounds::per_source`]: connections held, new connections per second), false
    /// (counted in `Stats::refused_source`, logged once per source every 10 s) if
    /// not; nothing is taken. For a transport whose own table decides the rest (UDP's
    /// peers); [`admit`](Self::admit) asks it first. A connection is counted under
    /// its source when it is served, and checked again then (behind the PROXY
    /// protocol, under the header's address).
    pub fn admit_source(&self, remote: &Addr) -> bool {
        let now = Instant::now();
        let mut table = self.table();
        self.check_source(&mut table, remote, now).is_ok()
    }

    /// The source of a newcomer from `remote` (`None`: not known), if its limits let
    /// it in; a refusal is counted and logged here.
    fn check_source(
        &self,
        table: &mut Table,
        remote: &Addr,
        now: Instant,
    ) -> Result<Option<Source>, Refusal> {
        let source = Source::of(remote, None, table.sources.ipv6_prefix());
        if let Some(source) = source {
            if let Err(refusal) = table.sources.check(source, millis(now)) {
                self.refused_by_source(table, source, refusal, now);
                return Err(refusal);
            }
        }
        Ok(source)
    }

    /// Counts a refusal of `source` by its limits, and logs it if due.
    pub(crate) fn refused_by_source(
        &self,
        table: &mut Table,
        source: Source,
        refusal: Refusal,
        now: Instant,
    ) {
        Counters::bump(&self.inner.counters.refused_source);
        if let Some(refused) = table.sources.refused(source, millis(now)) {
            tracing::info!(%source, refused, "connections refused: {refusal}");
        }
    }

    /// The accept loop's system call failed for want of descriptors: counts as a full
    /// table, so the source holding the most gives a connection up for whoever is
    /// waiting (most likely from another source).
    pub(crate) fn out_of_descriptors(&self) {
        if self.table().shed_top(Instant::now()) == Some(Shed::Lingering) {
            Counters::bump(&self.inner.counters.shed_idle);
        }
    }

    /// Where the table is full: `max_connections`, or fewer where the open-file limit
    /// leaves room for fewer.
    pub(crate) fn capacity(&self) -> usize {
        let max = self.inner.bounds.max_connections;
        descriptor_cap().map_or(max, |cap| cap.min(max))
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        // The table holds plain data: a panic elsewhere leaves it consistent.
        self.inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection's place at shutdown: how it starts if a shutdown began.
    pub(crate) fn phase(&self) -> Option<bool> {
        match self.inner.phase.load(Ordering::Acquire) {
            RUNNING => None,
            GRACEFUL => Some(true),
            _ => Some(false),
        }
    }

    pub(crate) fn bound(&self) -> Option<&Addr> {
        self.inner.local.get()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.inner.listening.load(Ordering::Acquire) && !self.inner.stop.is_cancelled()
    }

    /// True once a shutdown began: no new connections.
    pub(crate) fn is_closing(&self) -> bool {
        self.inner.closing.is_cancelled()
    }

    pub(crate) fn stop_accepting(&self) {
        self.inner.stop.cancel();
    }

    /// Close every connection now and stop accepting.
    pub(crate) fn close_all(&self) {
        self.begin_shutdown(ABORTED);
        self.inner.tracker.close();
    }

    /// Stop reading, finish in-flight frames and flush, then close; after `deadline`,
    /// close what is left. True if every connection finished in time.
    pub(crate) fn drain(&self, deadline: Duration) -> impl Future<Output = bool> + Send + 'static {
        let engine = self.clone();
        engine.begin_shutdown(GRACEFUL);
        engine.inner.tracker.close();
        async move {
            let inner = &engine.inner;
            let closed = async {
                inner.tracker.wait().await;
                // Every connection has closed: the lingering ones are all that is left.
                inner.lingering.close();
                inner.lingering.wait().await;
            };
            let finished = tokio::time::timeout(deadline, closed).await.is_ok();
            if !finished {
                engine.begin_shutdown(ABORTED);
                inner.tracker.wait().await;
                inner.lingering.close();
                inner.lingering.wait().await;
            }
            finished
        }
    }

    /// Moves to `phase` (never back) and tells every connection, under the table lock
    /// (see `spawn` for connections being added meanwhile).
    fn begin_shutdown(&self, phase: u8) {
        let inner = &self.inner;
        inner.stop.cancel();
        let table = self.table();
        let before = inner.phase.fetch_max(phase, Ordering::AcqRel);
        inner.closing.cancel();
        if before < phase {
            for entry in table.all() {
                entry.control.shutdown(phase == GRACEFUL);
            }
        }
    }

    /// A snapshot of the counters, with the connections held and their traffic.
    pub(crate) fn snapshot(&self) -> Stats {
        let table = self.table();
        // Under the lock: a connection leaving now is counted once, here or there.
        self.inner.counters.snapshot(
            table.len(),
            table.closing(),
            table.traffic(),
            self.inner.budget.used(),
        )
    }

    /// The (local, remote) addresses of every open connection.
    pub(crate) fn open_pairs(&self) -> Vec<(Addr, Addr)> {
        self.table().open().map(Entry::key).collect()
    }

    /// The newest open connection between `local` and `remote`, if its frames are
    /// `In`/`Out`.
    pub(crate) fn find<In: 'static, Out: 'static>(
        &self,
        local: &Addr,
        remote: &Addr,
    ) -> Option<Tendril<In, Out>> {
        let table = self.table();
        let entry = table.find(&(local.clone(), remote.clone()))?;
        as_tendril(entry)
    }

    /// Every open connection whose frames are `In`/`Out`.
    pub(crate) fn open_tendrils<In: 'static, Out: 'static>(&self) -> Vec<Tendril<In, Out>> {
        self.table().open().filter_map(as_tendril).collect()
    }
}

fn as_tendril<In: 'static, Out: 'static>(entry: &Entry) -> Option<Tendril<In, Out>> {
    let tendril = entry
        .control
        .clone()
        .tendril()
        .downcast::<Tendril<In, Out>>();
    tendril.ok().map(|tendril| *tendril)
}
