//! [`Engine`]: the connection engine every manager stands on, public so that transports
//! written outside this crate run their connections exactly as the built-in ones do.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;

use super::stats::Counters;
use super::{Core, Listener, Stats};
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::tendril::io::budget::DEFAULT_BUDGET;
use crate::tendril::{Addr, ConnectionConfig, Tendril};
use crate::wrap::{BoxIo, Wrapper};

/// Runs and tracks the connections of one manager: its endpoint and running state,
/// the driver tasks, the acceptor calls, the table of live connections, counters, stop,
/// shutdown and graceful shutdown. Cheap to clone (clones share the engine).
///
/// A transport holds one and implements [`Manager`](super::Manager) by returning it;
/// everything the trait offers (lookups, stats, stop, shutdown) then works. A stream
/// transport hands its listener to [`listen`](Self::listen) and its dialled streams to
/// [`connect`](Self::connect). The crate's own `UnixManager` is written against this
/// type and the other public items only.
#[derive(Clone)]
pub struct Engine {
    core: Arc<Core>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("transport", &self.core.transport)
            .field("endpoint", &self.core.endpoint)
            .field("local", &self.core.local())
            .finish_non_exhaustive()
    }
}

/// Resolves once the acceptor has accepted (`Ok`) or refused or failed (`Err`).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Accepted(oneshot::Receiver<Result<(), Error>>);

impl Future for Accepted {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|result| result.unwrap_or_else(|_| Err(Error::closed())))
    }
}

/// What a manager bounds across all its connections (the per-connection bounds are
/// in [`ConnectionConfig`]). Set through [`Builder`](super::Builder); a plug-in
/// transport passes them to [`Engine::with_bounds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bounds {
    /// Connections held at once, closing ones included.
    pub max_connections: usize,
    /// Bytes all connections' buffers may hold beyond 16 KiB of read and 16 KiB of
    /// write buffer each (see [`Builder::memory_budget`](super::Builder::memory_budget)).
    pub memory_budget: usize,
    /// With the table full, a newcomer displaces the connection idle longest if it has
    /// been idle this long (`None`: newcomers are refused). See
    /// [`Builder::displace_idle_after`](super::Builder::displace_idle_after).
    pub displace_idle_after: Option<Duration>,
}

impl Bounds {
    /// At most `max_connections`, the other bounds at their defaults (a 256 MiB
    /// memory budget, displacing connections idle for 2 s).
    pub fn new(max_connections: usize) -> Self {
        Bounds {
            max_connections,
            memory_budget: DEFAULT_BUDGET,
            displace_idle_after: Some(Duration::from_secs(2)),
        }
    }
}

impl Engine {
    /// An engine for `transport` (its registered name) at `endpoint`, with
    /// per-connection `config` and at most `max_connections` held at once (the other
    /// [`Bounds`] at their defaults).
    pub fn new(
        transport: &str,
        endpoint: impl Into<Addr>,
        config: ConnectionConfig,
        max_connections: usize,
    ) -> Self {
        Engine::with_bounds(transport, endpoint, config, Bounds::new(max_connections))
    }

    /// An engine for `transport` at `endpoint`, with per-connection `config` and
    /// `bounds` across its connections.
    pub fn with_bounds(
        transport: &str,
        endpoint: impl Into<Addr>,
        config: ConnectionConfig,
        bounds: Bounds,
    ) -> Self {
        Engine {
            core: Arc::new(Core::new(transport, endpoint.into(), config, bounds)),
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The transport's registered name.
    pub fn transport(&self) -> &str {
        &self.core.transport
    }

    /// The endpoint the manager was made for.
    pub fn endpoint(&self) -> &Addr {
        &self.core.endpoint
    }

    /// The per-connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.core.config
    }

    /// Fails if the manager cannot be started: it was started before, or stopped.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`].
    pub fn check_startable(&self) -> Result<(), Error> {
        self.core.check_startable()
    }

    /// Records that the manager now listens at `local` (its bound address): from here
    /// [`running`](Self::running) is true until [`stop`](Self::stop).
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] if it was started before, or stopped.
    pub fn set_listening(&self, local: impl Into<Addr>) -> Result<(), Error> {
        self.core.set_listening(local.into())
    }

    /// Records where the manager is bound without listening (a datagram transport
    /// that only connects out); false if it was bound already.
    pub fn set_local(&self, local: impl Into<Addr>) -> bool {
        self.core.set_local(local.into())
    }

    /// Where the manager is bound, once started (or bound by `set_local`).
    pub fn local(&self) -> Option<&Addr> {
        self.core.local()
    }

    /// The bound socket address once started, for IP transports (port 0 resolved).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.core.local_addr()
    }

    /// True between a successful start and `stop`/`shutdown`.
    pub fn running(&self) -> bool {
        self.core.running()
    }

    /// Runs a connection on `io` between `local` and `remote`: calls `acceptor` with its
    /// [`Tendril`] (first waiting for nothing: call [`acceptor_ready`](Self::acceptor_ready)
    /// before), then the application until the connection closes.
    pub fn serve<A, In, Out>(
        &self,
        io: BoxIo,
        local: Addr,
        remote: Addr,
        framers: FramerSwitch<In, Out>,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, Accepted)
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let (tendril, accepted) = self.core.spawn(io, local, remote, framers, acceptor);
        (tendril, Accepted(accepted))
    }

    /// Accepts from `listener` on a tracked task until [`stop`](Self::stop): each
    /// stream goes through `wrapper`, then `acceptor` gets its [`Tendril`], exactly as
    /// for TCP (the acceptor's readiness gates accepting, the wrapper's is asked with
    /// the accepted stream in hand, wrapping runs on its own task and counts against
    /// `max_connections`, a full table displaces an idle connection or refuses, accept
    /// errors back off).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn listen<L, W, A, In, Out, F>(&self, listener: L, acceptor: A, wrapper: W, framers: F)
    where
        L: Listener,
        W: Wrapper<L::Io>,
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        self.core.listen(listener, wrapper, acceptor, framers);
    }

    /// Runs a connection on a stream this transport dialled: wraps it with `wrapper`,
    /// then calls `acceptor` with its [`Tendril`]. Resolves once the acceptor accepted.
    ///
    /// # Errors
    ///
    /// [`Error::is_wrap`] if the wrapper failed, [`Error::is_application`] if the
    /// acceptor refused or failed, [`Error::is_closed`] after shutdown.
    pub async fn connect<I, W, A, In, Out>(
        &self,
        io: I,
        local: Addr,
        remote: Addr,
        framers: FramerSwitch<In, Out>,
        acceptor: A,
        wrapper: W,
    ) -> Result<Tendril<In, Out>, Error>
    where
        W: Wrapper<I>,
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        self.core
            .connect(io, local, remote, framers, acceptor, wrapper)
            .await
    }

    /// Waits until `acceptor` is ready for another connection (its `poll_ready`).
    ///
    /// # Errors
    ///
    /// [`Error::is_application`] with the acceptor's error.
    pub async fn acceptor_ready<A, In, Out>(acceptor: &mut A) -> Result<(), Error>
    where
        A: Acceptor<In, Out>,
    {
        Core::acceptor_ready(acceptor)
            .await
            .map_err(Error::application)
    }

    /// True when `max_connections` are held (closing ones included): refuse the next
    /// one (and [`count_refused`](Self::count_refused)), or see [`admit`](Self::admit).
    pub fn at_capacity(&self) -> bool {
        self.core.at_capacity()
    }

    /// True if a newcomer may be served: there is room, or the table is full and the
    /// connection idle longest (past [`Bounds::displace_idle_after`]) was told to
    /// close for it (counted as `displaced`). False: refuse it and
    /// [`count_refused`](Self::count_refused). What an accept loop asks for each
    /// accepted stream; [`listen`](Self::listen) does.
    pub fn admit(&self) -> bool {
        self.core.admit()
    }

    /// Counts a connection refused for capacity.
    pub fn count_refused(&self) {
        Counters::bump(&self.core.counters.refused);
    }

    /// Counts a failed accept that was retried.
    pub fn count_accept_error(&self) {
        Counters::bump(&self.core.counters.accept_errors);
    }

    /// Runs `task` (an accept loop) tracked with the connections, so graceful shutdown
    /// waits for it to end.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.core.tracker.spawn(task);
    }

    /// Resolves once accepting should stop (after [`stop`](Self::stop), `shutdown` or
    /// `graceful_shutdown`).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        self.core.signals.accept.clone().cancelled_owned()
    }

    /// True once accepting should stop.
    pub fn is_stopped(&self) -> bool {
        self.core.signals.accept.is_cancelled()
    }

    /// Tells accept loops to stop; live connections go on.
    pub fn stop(&self) {
        self.core.signals.accept.cancel();
    }

    /// Stops accepting and closes every connection now.
    pub fn shutdown(&self) {
        self.core.shutdown();
    }

    /// Stops accepting, lets in-flight frames finish, closes; after `deadline`, closes
    /// the rest at once. True if all finished in time.
    pub fn graceful_shutdown(
        &self,
        deadline: Duration,
    ) -> impl Future<Output = bool> + Send + 'static {
        self.core.graceful_shutdown(deadline)
    }

    /// True once `shutdown` or `graceful_shutdown` was called.
    pub fn is_shut_down(&self) -> bool {
        self.core.is_closing()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The newest open connection between `local` and `remote`, type-erased.
    pub fn find(&self, local: &Addr, remote: &Addr) -> Option<Arc<dyn Any + Send + Sync>> {
        self.core.find(local, remote)
    }

    /// The (local, remote) addresses of every open connection.
    pub fn connections(&self) -> Vec<(Addr, Addr)> {
        self.core.connections()
    }

    /// Every open connection whose frames are `In`/`Out`.
    pub fn tendrils<In: 'static, Out: 'static>(&self) -> Vec<Tendril<In, Out>> {
        self.core
            .tendrils()
            .iter()
            .filter_map(|tendril| tendril.downcast_ref::<Tendril<In, Out>>().cloned())
            .collect()
    }
}
