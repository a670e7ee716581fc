//! The TCP manager.

use std::any::Any;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{connect_stream, Builder, ConnectStream, Engine, Listener, Manager};
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::tendril::{Addr, ConnectionConfig, Tendril};
use crate::wrap::Wrapper;

/// The TCP options: listener and socket settings.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    addr: SocketAddr,
    backlog: u32,
    reuse_address: bool,
    reuse_port: bool,
    nodelay: bool,
    /// A listening socket handed over ([`TcpManager::adopt`]), served instead of
    /// binding `addr`.
    adopted: Option<Arc<std::net::TcpListener>>,
}

/// A [`TcpManager`]'s options and bounds (see [`TcpManager::builder`]): the shared
/// connection settings of [`Builder`], and the TCP options here.
pub type TcpBuilder = Builder<TcpOptions>;

impl Builder<TcpOptions> {
    /// The listen backlog (default 1024).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.options.backlog = backlog;
        self
    }

    /// `SO_REUSEADDR` on the listener (default on, so a restarted server can bind
    /// while old connections linger in TIME_WAIT).
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.options.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT` on the listener (default off; Unix only, ignored elsewhere).
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.options.reuse_port = on;
        self
    }

    /// `TCP_NODELAY` on accepted and outgoing sockets (default on: frames are
    /// already batched by the driver, so Nagle's delay only adds latency).
    pub fn nodelay(mut self, on: bool) -> Self {
        self.options.nodelay = on;
        self
    }

    /// Creates the manager (nothing is bound until [`TcpManager::start`]).
    pub fn build(&self) -> TcpManager {
        TcpManager {
            inner: Arc::new(Inner {
                options: self.options.clone(),
                engine: Engine::with_bounds(
                    "tcp",
                    self.options.addr,
                    self.connection.clone(),
                    self.bounds,
                ),
            }),
        }
    }
}

struct Inner {
    options: TcpOptions,
    engine: Engine,
}

/// Listens, accepts and connects over TCP, and tracks every live connection.
///
/// A `TcpManager` is a cheap handle: clones share the same manager. Lookups, stats,
/// stop and shutdown come from the [`Manager`] trait.
///
/// ```no_run
/// use tendril_net::app::acceptor_fn;
/// use tendril_net::framer::LineFramer;
/// use tendril_net::wrap::NoWrapper;
/// use tendril_net::{BoxError, Manager, Tendril, TcpManager};
/// use tower::service_fn;
///
/// # async fn run() -> Result<(), BoxError> {
/// let manager = TcpManager::new("127.0.0.1:7000".parse()?);
/// let addr = manager.start(acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
///     tendril.set_framers(LineFramer::new(), LineFramer::new())?;
///     Ok(service_fn(|line: bytes::Bytes| async move { Ok::<_, BoxError>(line) }))
/// }), NoWrapper)?;
/// println!("listening on tcp {addr}");
/// // From the Manager trait: stop accepting, let live connections finish.
/// manager.graceful_shutdown(std::time::Duration::from_secs(5)).await;
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
            .field("engine", &self.inner.engine)
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
        let options = TcpOptions {
            addr,
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
            nodelay: true,
            adopted: None,
        };
        Builder::with(10_000, ConnectionConfig::default(), options)
    }

    /// A builder for a manager serving `listener`, a listening socket this process did
    /// not bind itself: one passed by systemd ([`systemd`](crate::manager::systemd)),
    /// or handed over by other code. Its address is the manager's endpoint; the bind
    /// options (`backlog`, `reuse_address`, `reuse_port`) do not apply. The manager
    /// keeps the socket open until it is dropped, so connections still queued when it
    /// stops accepting stay in the backlog for whoever else holds the socket.
    ///
    /// # Errors
    ///
    /// I/O errors reading the socket's address.
    pub fn adopt(listener: std::net::TcpListener) -> io::Result<TcpBuilder> {
        let mut builder = TcpManager::builder(listener.local_addr()?);
        builder.options.adopted = Some(Arc::new(listener));
        Ok(builder)
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
        let engine = &self.inner.engine;
        engine.check_startable()?;
        let listener = self.listen()?;
        let local = listener.local_addr()?;
        engine.set_listening(local)?;
        let nodelay = self.inner.options.nodelay;
        tracing::debug!(%local, "tcp manager listening");
        engine.listen(TcpAccept { listener, nodelay }, acceptor, wrapper, framers);
        Ok(local)
    }

    fn listen(&self) -> io::Result<TcpListener> {
        let options = &self.inner.options;
        if let Some(adopted) = &options.adopted {
            let listener = adopted.try_clone()?;
            listener.set_nonblocking(true)?;
            return TcpListener::from_std(listener);
        }
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
        connect_stream(self, target, acceptor, wrapper, framers).await
    }
}

impl Manager for TcpManager {
    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl ConnectStream for TcpManager {
    type Target = SocketAddr;
    type Stream = TcpStream;

    async fn dial(&self, target: &SocketAddr) -> io::Result<(TcpStream, Addr, Addr)> {
        let target = *target;
        let socket = if target.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        let endpoint = self.inner.options.addr;
        // From the manager's endpoint: its address, and its port unless the
        // listener holds it.
        let port = if self.inner.engine.local().is_some() {
            0
        } else {
            endpoint.port()
        };
        if endpoint.is_ipv4() == target.is_ipv4() && (!endpoint.ip().is_unspecified() || port != 0)
        {
            socket.set_reuseaddr(true)?;
            socket.bind(SocketAddr::new(endpoint.ip(), port))?;
        }
        let stream = socket.connect(target).await?;
        stream.set_nodelay(self.inner.options.nodelay)?;
        let local = stream.local_addr()?;
        Ok((stream, local.into(), target.into()))
    }
}

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
