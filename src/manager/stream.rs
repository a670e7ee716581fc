//! Stream transports written once: a [`StreamTransport`] says how to bind, adopt and
//! dial; [`StreamManager`] gives every one of them the whole manager (`new`,
//! `builder`, `adopt`, `start`, [`Connect`], the [`Manager`] surface). TCP and Unix
//! sockets are two such transports ([`TcpManager`](super::TcpManager) is
//! `StreamManager<Tcp>`); a plug-in's is a third, written the same way.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::engine::{Bounds, Engine, Listener};
use super::{BuildManager, Builder, Connect, Manager};
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::tendril::{Addr, ConnectionConfig, Tendril};
use crate::wrap::{Io, Wrapper};

/// A stream transport: how to bind (or take over) a listener and how to dial, and
/// nothing else; [`StreamManager`] does the rest. What is particular to a transport
/// (socket options, a socket file's safety, peer credentials through
/// [`Io::peer_credentials`]) lives in its value and its stream type.
///
/// ```
/// use std::future::Future;
/// use std::io;
/// use tendril_net::manager::{StreamManager, StreamTransport, Tcp};
/// use tendril_net::Addr;
///
/// /// TCP on loopback only: a transport of one's own, over the built-in TCP.
/// #[derive(Debug, Clone)]
/// struct Loopback(Tcp);
///
/// impl StreamTransport for Loopback {
///     const NAME: &'static str = "loopback";
///     type Stream = tokio::net::TcpStream;
///     type Listener = <Tcp as StreamTransport>::Listener;
///     type Target = std::net::SocketAddr;
///     type Adopted = std::net::TcpListener;
///
///     fn at(endpoint: Self::Target) -> Self {
///         Loopback(Tcp::at(endpoint))
///     }
///     fn endpoint(&self) -> Self::Target {
///         self.0.endpoint()
///     }
///     fn adopt(listener: Self::Adopted) -> io::Result<Self> {
///         Tcp::adopt(listener).map(Loopback)
///     }
///     fn bind(&self) -> io::Result<(Self::Listener, Self::Target)> {
///         if !self.0.endpoint().ip().is_loopback() {
///             return Err(io::Error::other("loopback only"));
///         }
///         self.0.bind()
///     }
///     fn dial(
///         &self,
///         target: &Self::Target,
///         listening: Option<&Addr>,
///     ) -> impl Future<Output = io::Result<(Self::Stream, Addr, Addr)>> + Send {
///         self.0.dial(target, listening)
///     }
/// }
///
/// let manager = StreamManager::<Loopback>::new("127.0.0.1:0".parse().unwrap());
/// # let _ = manager;
/// ```
pub trait StreamTransport: Clone + fmt::Debug + Send + Sync + 'static {
    /// The name it registers under and its connections report (`"tcp"`).
    const NAME: &'static str;
    /// A connection's byte stream, accepted or dialled, before any wrapper.
    type Stream: Io;
    /// What [`bind`](Self::bind) gives the accept loop.
    type Listener: Listener<Io = Self::Stream>;
    /// Where a connection goes, and where a manager listens: a socket address, a path.
    type Target: Clone + fmt::Debug + Send + Sync + Into<Addr> + 'static;
    /// A listening socket made elsewhere (passed by systemd, handed over by other
    /// code), for [`adopt`](Self::adopt).
    type Adopted;

    /// This transport at `endpoint`, with its default options.
    fn at(endpoint: Self::Target) -> Self;

    /// The endpoint this transport is for.
    fn endpoint(&self) -> Self::Target;

    /// This transport, serving `listener` instead of binding its endpoint.
    ///
    /// # Errors
    ///
    /// When the socket's address cannot be read, or it is not one this transport
    /// serves.
    fn adopt(listener: Self::Adopted) -> io::Result<Self>;

    /// Binds the endpoint (or takes over the adopted socket): the listener, and where
    /// it listens (port 0 resolved).
    ///
    /// # Errors
    ///
    /// The system's, from binding.
    fn bind(&self) -> io::Result<(Self::Listener, Self::Target)>;

    /// Dials `target`: the stream, its local address and its remote one. `listening`
    /// is where the manager listens, if it does.
    fn dial(
        &self,
        target: &Self::Target,
        listening: Option<&Addr>,
    ) -> impl Future<Output = io::Result<(Self::Stream, Addr, Addr)>> + Send;
}

/// The manager of a stream transport `T`: listens, accepts and connects through it,
/// and tracks every live connection. A cheap handle: clones share the manager.
/// Lookups, stats, stop and shutdown are the [`Manager`] trait's, connecting is
/// [`Connect`]'s.
pub struct StreamManager<T: StreamTransport> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    transport: T,
    engine: Engine,
}

impl<T: StreamTransport> Clone for StreamManager<T> {
    fn clone(&self) -> Self {
        StreamManager {
            inner: self.inner.clone(),
        }
    }
}

impl<T: StreamTransport> fmt::Debug for StreamManager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamManager")
            .field("transport", &self.inner.transport)
            .field("engine", &self.inner.engine)
            .finish()
    }
}

impl<T: StreamTransport> BuildManager for T {
    type Manager = StreamManager<T>;

    /// Creates the manager (nothing is bound until it is started).
    fn build(builder: &Builder<T>) -> StreamManager<T> {
        let engine = Engine::new(
            T::NAME,
            builder.options.endpoint(),
            builder.connection.clone(),
            builder.bounds,
        );
        StreamManager {
            inner: Arc::new(Inner {
                transport: builder.options.clone(),
                engine,
            }),
        }
    }
}

impl<T: StreamTransport> StreamManager<T> {
    /// A manager for `endpoint` (for TCP a socket address, for Unix a path) with the
    /// default settings.
    pub fn new(endpoint: T::Target) -> Self {
        StreamManager::<T>::builder(endpoint).build()
    }

    /// A builder for a manager of `endpoint` (for TCP a socket address, IPv4 or IPv6,
    /// port 0 picking a free port; for Unix a path): the transport's default options,
    /// at most 10,000 connections, those idle for 2 s shed for newcomers when all are
    /// held, and the [`ConnectionConfig`] defaults.
    pub fn builder(endpoint: T::Target) -> Builder<T> {
        StreamManager::with_transport(T::at(endpoint))
    }

    /// A builder for a manager of `transport`, a transport value set up beforehand.
    fn with_transport(transport: T) -> Builder<T> {
        let bounds = Bounds::new(10_000, Some(std::time::Duration::from_secs(2)));
        Builder::new(transport, bounds, ConnectionConfig::default())
    }

    /// A builder for a manager serving `listener`, a listening socket this process did
    /// not bind itself: one passed by systemd (`manager::systemd`, with the `systemd` feature),
    /// or handed over by other code. Its address is the manager's endpoint; bind
    /// options do not apply. The manager keeps the socket open until it is dropped,
    /// so connections still queued when it stops accepting stay in the backlog for
    /// whoever else holds the socket.
    ///
    /// # Errors
    ///
    /// As [`StreamTransport::adopt`].
    pub fn adopt(listener: T::Adopted) -> io::Result<Builder<T>> {
        Ok(StreamManager::with_transport(T::adopt(listener)?))
    }

    /// Binds the endpoint and accepts connections: each accepted stream goes through
    /// `wrapper` (socket options, TLS; [`NoWrapper`](crate::wrap::NoWrapper) for
    /// none), then `acceptor` is called with its [`Tendril`] (frames are [`Bytes`];
    /// framers start as identity). Returns where it listens.
    ///
    /// The acceptor's readiness gates accepting; the wrapper's is asked with each
    /// accepted stream in hand (a TLS wrapper with every handshake slot taken sheds a
    /// silent handshake for the newcomer). Wrapping runs on a task per connection; a
    /// connection that fails it is closed and counted
    /// ([`Stats::wrap_failed`](crate::Stats)). See [`Engine::listen`].
    ///
    /// # Errors
    ///
    /// I/O errors from binding; [`Error::is_config`] if already started or shut down.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start<A, W>(&self, acceptor: A, wrapper: W) -> Result<T::Target, Error>
    where
        A: Acceptor<Bytes, Bytes> + Send + 'static,
        W: Wrapper<T::Stream>,
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
    ) -> Result<T::Target, Error>
    where
        A: Acceptor<In, Out> + Send + 'static,
        W: Wrapper<T::Stream>,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let engine = &self.inner.engine;
        let (listener, local) = engine.start(|| {
            let (listener, local) = self.inner.transport.bind()?;
            Ok(((listener, local.clone()), local.into()))
        })?;
        tracing::debug!(transport = T::NAME, ?local, "listening");
        engine.listen(listener, acceptor, wrapper, framers);
        Ok(local)
    }
}

impl<T: StreamTransport> Manager for StreamManager<T> {
    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T, W> Connect<W> for StreamManager<T>
where
    T: StreamTransport,
    W: Wrapper<T::Stream>,
{
    type Target = T::Target;

    fn connect_with_framers<A, In, Out>(
        &self,
        target: T::Target,
        acceptor: A,
        wrapper: W,
        framers: FramerSwitch<In, Out>,
    ) -> impl Future<Output = Result<Tendril<In, Out>, Error>> + Send + 'static
    where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let manager = self.clone();
        async move {
            let engine = manager.engine();
            if manager.is_shut_down() {
                return Err(Error::closed());
            }
            let (stream, local, remote) = manager
                .inner
                .transport
                .dial(&target, engine.bound())
                .await
                .map_err(|err| {
                    let target: Addr = target.clone().into();
                    Error::connect(format_args!("{} {target}", T::NAME), err)
                })?;
            engine
                .connect(stream, local, remote, framers, acceptor, wrapper)
                .await
        }
    }
}
