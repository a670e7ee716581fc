//! The TCP manager.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::common::manager_common;
use super::{Core, Endpoint, Listener};
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::tendril::{Addr, ConnectionConfig, ReplyOrder, Tendril};
use crate::wrap::Wrapper;

/// Listener and socket options, and the manager's bounds (see [`TcpManager::builder`]).
#[derive(Debug, Clone)]
pub struct TcpBuilder {
    addr: SocketAddr,
    backlog: u32,
    reuse_address: bool,
    reuse_port: bool,
    nodelay: bool,
    max_connections: usize,
    connection: ConnectionConfig,
}

impl TcpBuilder {
    /// The listen backlog (default 1024).
    pub fn backlog(&mut self, backlog: u32) -> &mut Self {
        self.backlog = backlog;
        self
    }

    /// `SO_REUSEADDR` on the listener (default on, so a restarted server can bind
    /// while old connections linger in TIME_WAIT).
    pub fn reuse_address(&mut self, on: bool) -> &mut Self {
        self.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT` on the listener (default off; Unix only, ignored elsewhere).
    pub fn reuse_port(&mut self, on: bool) -> &mut Self {
        self.reuse_port = on;
        self
    }

    /// `TCP_NODELAY` on accepted and outgoing sockets (default on: frames are
    /// already batched by the driver, so Nagle's delay only adds latency).
    pub fn nodelay(&mut self, on: bool) -> &mut Self {
        self.nodelay = on;
        self
    }

    /// Connections open at once (default 10,000). Connections accepted beyond it are
    /// closed at once and counted as `refused`.
    pub fn max_connections(&mut self, max: usize) -> &mut Self {
        self.max_connections = max;
        self
    }

    /// Per-connection bounds and behaviour.
    pub fn connection(&mut self, config: ConnectionConfig) -> &mut Self {
        self.connection = config;
        self
    }

    /// Frames an application may queue per connection (default 1024).
    pub fn outbound_queue(&mut self, frames: usize) -> &mut Self {
        self.connection.outbound_queue = frames.max(1);
        self
    }

    /// Frames handed to the application before earlier ones are answered (default 1:
    /// one at a time). Replies keep request order unless
    /// [`reply_order`](Self::reply_order) says otherwise.
    pub fn max_in_flight(&mut self, frames: usize) -> &mut Self {
        self.connection.max_in_flight = frames.max(1);
        self
    }

    /// The order of the replies of pipelined calls (default request order).
    pub fn reply_order(&mut self, order: ReplyOrder) -> &mut Self {
        self.connection.reply_order = order;
        self
    }

    /// Longest time an application call may run (default: no limit); see
    /// [`ConnectionConfig::call_timeout`].
    pub fn call_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.connection.call_timeout = timeout;
        self
    }

    /// Close connections idle this long (default: never, for TCP).
    pub fn idle_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.connection.idle_timeout = timeout;
        self
    }

    /// How long a closing connection may take to flush (default 5 s).
    pub fn linger(&mut self, linger: Duration) -> &mut Self {
        self.connection.linger = linger;
        self
    }

    /// Creates the manager (nothing is bound until [`TcpManager::start`]).
    pub fn build(&self) -> TcpManager {
        TcpManager {
            inner: Arc::new(Inner {
                endpoint: Endpoint::Inet(self.addr),
                options: self.clone(),
                core: Arc::new(Core::new(
                    "tcp",
                    self.connection.clone(),
                    self.max_connections,
                )),
                state: Mutex::default(),
            }),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    local_addr: Option<SocketAddr>,
    running: bool,
}

struct Inner {
    endpoint: Endpoint,
    options: TcpBuilder,
    core: Arc<Core>,
    state: Mutex<State>,
}

/// Listens, accepts and connects over TCP, and tracks every live connection.
///
/// A `TcpManager` is a cheap handle: clones share the same manager.
///
/// ```no_run
/// use tendril_net::app::acceptor_fn;
/// use tendril_net::framer::LineFramer;
/// use tendril_net::wrap::NoWrapper;
/// use tendril_net::{BoxError, Tendril, TcpManager};
/// use tower::service_fn;
///
/// # async fn run() -> Result<(), BoxError> {
/// let manager = TcpManager::new("127.0.0.1:7000".parse()?);
/// let addr = manager.start(acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
///     tendril.set_framers(LineFramer::new(), LineFramer::new())?;
///     Ok(service_fn(|line: bytes::Bytes| async move { Ok::<_, BoxError>(line) }))
/// }), NoWrapper)?;
/// println!("listening on tcp {addr}");
/// # Ok(()) }
/// # let _ = run();
/// ```
#[derive(Clone)]
pub struct TcpManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for TcpManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpManager")
            .field("endpoint", &self.inner.endpoint)
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl TcpManager {
    /// A manager for `addr` with the default options.
    pub fn new(addr: SocketAddr) -> Self {
        TcpManager::builder(addr).build()
    }

    /// A builder for a manager of `addr` (IPv4 or IPv6; port 0 picks a free port).
    pub fn builder(addr: SocketAddr) -> TcpBuilder {
        TcpBuilder {
            addr,
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
            nodelay: true,
            max_connections: 10_000,
            connection: ConnectionConfig::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }

    /// Binds the endpoint and accepts connections: each accepted socket goes through
    /// `wrapper` (socket options, TLS; [`NoWrapper`](crate::wrap::NoWrapper) for
    /// none), then `acceptor` is called with its [`Tendril`] (frames are [`Bytes`];
    /// framers start as identity). Returns the bound address.
    ///
    /// The acceptor's and the wrapper's `poll_ready` gate accepting: an acceptor behind
    /// a concurrency limit, or a TLS wrapper with all its handshake slots taken, holds
    /// further connections in the listen backlog. Wrapping runs on a task per
    /// connection; a connection that fails it is closed and counted
    /// ([`Stats::wrap_failed`](crate::Stats)).
    ///
    /// # Errors
    ///
    /// I/O errors from binding; [`Error::is_config`] if already started or shut down.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start<A, W>(&self, acceptor: A, wrapper: W) -> Result<SocketAddr, Error>
    where
        A: Acceptor<Bytes, Bytes> + Send + 'static,
        W: Wrapper<TcpStream>,
    {
        self.start_with_framers(acceptor, wrapper, FramerSwitch::default)
    }

    /// [`start`](Self::start) for any frame types: `framers` makes each connection's
    /// initial framers (the acceptor may replace them).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start_with_framers<A, W, In, Out, F>(
        &self,
        acceptor: A,
        wrapper: W,
        framers: F,
    ) -> Result<SocketAddr, Error>
    where
        A: Acceptor<In, Out> + Send + 'static,
        W: Wrapper<TcpStream>,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let mut state = self.state();
        if state.running || self.core().signals.accept.is_cancelled() {
            return Err(Error::config("the manager was already started"));
        }
        let listener = self.listen()?;
        let local = listener.local_addr()?;
        state.local_addr = Some(local);
        state.running = true;
        let nodelay = self.inner.options.nodelay;
        tracing::debug!(%local, "tcp manager listening");
        self.core()
            .listen(TcpAccept { listener, nodelay }, wrapper, acceptor, framers);
        Ok(local)
    }

    fn listen(&self) -> io::Result<TcpListener> {
        let options = &self.inner.options;
        let socket = if options.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(options.reuse_address)?;
        #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
        if options.reuse_port {
            socket.set_reuseport(true)?;
        }
        socket.bind(options.addr)?;
        socket.listen(options.backlog)
    }

    /// Connects to `target` from this manager's endpoint, wraps the socket with
    /// `wrapper` (a `TlsClient`, ...), and runs `acceptor`'s
    /// application on the connection (frames are [`Bytes`]; framers start as
    /// identity). Returns the connection once the acceptor has accepted it.
    ///
    /// # Errors
    ///
    /// I/O errors from connecting; [`Error::is_wrap`] if the wrapper failed;
    /// [`Error::is_application`] if the acceptor refused or failed;
    /// [`Error::is_closed`] after shutdown.
    pub async fn connect<A, W>(
        &self,
        target: SocketAddr,
        acceptor: A,
        wrapper: W,
    ) -> Result<Tendril, Error>
    where
        A: Acceptor<Bytes, Bytes>,
        W: Wrapper<TcpStream>,
    {
        self.connect_with_framers(target, acceptor, wrapper, FramerSwitch::default())
            .await
    }

    /// [`connect`](Self::connect) for any frame types, with the initial `framers`.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_framers<A, W, In, Out>(
        &self,
        target: SocketAddr,
        acceptor: A,
        wrapper: W,
        framers: FramerSwitch<In, Out>,
    ) -> Result<Tendril<In, Out>, Error>
    where
        A: Acceptor<In, Out>,
        W: Wrapper<TcpStream>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let core = self.core();
        if core.is_closing() {
            return Err(Error::closed());
        }
        let stream = self.dial(target).await?;
        let local = stream.local_addr()?;
        core.connect(
            stream,
            local.into(),
            target.into(),
            framers,
            acceptor,
            wrapper,
        )
        .await
    }

    async fn dial(&self, target: SocketAddr) -> io::Result<TcpStream> {
        let socket = if target.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        let Endpoint::Inet(endpoint) = self.inner.endpoint else {
            unreachable!("a TCP manager has a socket address");
        };
        // From the manager's endpoint: its address, and its port unless the
        // listener holds it.
        let port = if self.running() { 0 } else { endpoint.port() };
        if endpoint.is_ipv4() == target.is_ipv4() && (!endpoint.ip().is_unspecified() || port != 0)
        {
            socket.set_reuseaddr(true)?;
            socket.bind(SocketAddr::new(endpoint.ip(), port))?;
        }
        let stream = socket.connect(target).await?;
        stream.set_nodelay(self.inner.options.nodelay)?;
        Ok(stream)
    }

    /// The bound address once started (port 0 resolved).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.state().local_addr
    }

    /// True while accepting (between `start` and `stop`/`shutdown`).
    pub fn running(&self) -> bool {
        self.state().running
    }

    /// Stops accepting; live connections go on.
    pub fn stop(&self) {
        self.state().running = false;
        self.core().signals.accept.cancel();
    }

    /// Stops accepting and closes every connection now ([`CloseReason::Local`](crate::CloseReason)).
    pub fn shutdown(&self) {
        self.state().running = false;
        self.core().shutdown();
    }

    /// Stops accepting, stops reading, lets in-flight frames finish and their replies
    /// flush, then closes each connection; after `deadline` the rest are closed at
    /// once. Resolves to true if every connection finished in time.
    pub fn graceful_shutdown(
        &self,
        deadline: Duration,
    ) -> impl Future<Output = bool> + Send + 'static {
        self.state().running = false;
        self.core().graceful_shutdown(deadline)
    }
}

manager_common!(TcpManager, "tcp");

/// The listener as the shared accept loop sees it.
struct TcpAccept {
    listener: TcpListener,
    nodelay: bool,
}

impl Listener for TcpAccept {
    type Io = TcpStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, Addr, Addr)>> {
        let (stream, remote) = ready!(self.listener.poll_accept(cx))?;
        let _ = stream.set_nodelay(self.nodelay);
        let local = stream.local_addr()?;
        Poll::Ready(Ok((stream, local.into(), remote.into())))
    }
}
