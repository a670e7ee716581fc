//! The UDP manager: one socket, one tracked "connection" per peer.

use std::any::Any;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tower::{Service, ServiceExt};

use super::peer::UdpPeer;
use super::peers::Shed;
use super::router::{Parts, Registration, Router, Settings, Spawn};
use super::socket::Socket;
use super::stats::{UdpCounters, UdpStats};
use crate::app::Acceptor;
use crate::error::{BoxError, Error};
use crate::framer::FramerSwitch;
use crate::manager::{Accepted, Bounds, BuildManager, Builder, Connect, Engine, Manager};
use crate::tendril::{Addr, ConnectionConfig, Datagrams, Tendril};

/// A wrapper of each UDP peer's datagrams: a `tower::Service` from the peer's
/// [`UdpPeer`] to the [`Datagrams`] its connection runs on, as `start` and `connect`
/// take it ([`NoWrapper`](crate::wrap::NoWrapper) for none). Implemented for every
/// service that fits; it is only a name for the bounds. Its readiness is asked when a
/// new peer's first datagram arrives, never waited for (a wrapper that is not ready
/// drops that datagram, counted as `dropped_table_full`, as an acceptor that is not
/// ready does); its call runs on the peer's connection task, which starts once it
/// resolves (the peer's datagrams wait in its queue meanwhile).
pub trait UdpWrapper:
    Service<UdpPeer, Response: Datagrams, Error: Into<BoxError>, Future: Send + 'static>
    + Send
    + 'static
{
}

impl<S> UdpWrapper for S where
    S: Service<UdpPeer, Response: Datagrams, Error: Into<BoxError>, Future: Send + 'static>
        + Send
        + 'static
{
}

/// The UDP options: the socket's address and the receive loop's bounds.
#[derive(Debug, Clone)]
pub struct UdpOptions {
    addr: SocketAddr,
    inbound_queue: usize,
    inbound_budget: usize,
    reject_ttl: Duration,
    max_consecutive_errors: u32,
    send_buffer: Option<usize>,
    receive_buffer: Option<usize>,
    reuse_port: bool,
    /// A bound socket handed over ([`UdpManager::adopt`]), used instead of binding.
    adopted: Option<Arc<std::net::UdpSocket>>,
}

/// A [`UdpManager`]'s options and bounds (see [`UdpManager::builder`]): the shared
/// connection settings of [`Builder`] (each peer is a connection: `max_connections`
/// bounds the peer table, default 65,536; the idle timeout defaults to 60 s;
/// `shed_idle_after`, default 1 s, is how long a one-datagram peer must have been
/// quiet to be shed for a newcomer), and the UDP options here.
pub type UdpBuilder = Builder<UdpOptions>;

impl BuildManager for UdpOptions {
    type Manager = UdpManager;

    /// Creates the manager (nothing is bound until it is started or connects).
    fn build(builder: &Builder<Self>) -> UdpManager {
        UdpManager {
            inner: Arc::new(Inner {
                options: builder.options.clone(),
                engine: Engine::new(
                    "udp",
                    builder.options.addr,
                    builder.connection.clone(),
                    builder.bounds,
                ),
                state: Mutex::default(),
                failure: Arc::default(),
                counters: Arc::default(),
            }),
        }
    }
}

impl Builder<UdpOptions> {
    /// Datagrams queued per peer before more are dropped and counted (default 4,096:
    /// a burst of thousands from one sender waits for its application rather than
    /// being lost). A full queue never stalls other peers or the receive loop. All
    /// peers' queues together are bounded by [`inbound_budget`](Self::inbound_budget).
    pub fn inbound_queue(mut self, datagrams: usize) -> Self {
        self.options.inbound_queue = datagrams.max(1);
        self
    }

    /// Datagrams all peers' inbound queues may hold together (default 65,536); beyond
    /// it a datagram is dropped and counted as `dropped_queue_full`, whichever peer it
    /// is for. `UdpStats::queued` shows how many wait now.
    pub fn inbound_budget(mut self, datagrams: usize) -> Self {
        self.options.inbound_budget = datagrams.max(1);
        self
    }

    /// How long a rejected peer's datagrams are dropped without asking the acceptor
    /// again (default 10 s).
    pub fn reject_ttl(mut self, ttl: Duration) -> Self {
        self.options.reject_ttl = ttl;
        self
    }

    /// Consecutive receive errors (other than transient ones such as ICMP port
    /// unreachable) after which the manager stops with the error (default 10).
    pub fn max_consecutive_errors(mut self, errors: u32) -> Self {
        self.options.max_consecutive_errors = errors;
        self
    }

    /// `SO_SNDBUF` of the socket (default: the system's). Every peer sends through
    /// it; when it is full, each waits for room without holding the others back.
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.options.send_buffer = Some(bytes);
        self
    }

    /// `SO_RCVBUF` asked for the socket (default 8 MiB, for bursts): how many
    /// datagrams the kernel holds while the receive loop is busy. The kernel grants at
    /// most `net.core.rmem_max` (Linux); `UdpStats::receive_buffer` says what it
    /// granted, and `UdpStats::dropped_kernel` what it dropped for want of room.
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.options.receive_buffer = Some(bytes);
        self
    }

    /// `SO_REUSEPORT` on the socket (default off; Unix only): several processes bind
    /// the same port and the kernel spreads the datagrams by their source address and
    /// port, so each peer's datagrams keep going to one process (and its table) as
    /// long as its 4-tuple hashes the same: peer tracking stays per process, and a
    /// process that exits takes its peers with it.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.options.reuse_port = on;
        self
    }
}

#[derive(Default)]
struct State {
    socket: Option<Arc<Socket>>,
    registrations: Option<mpsc::Sender<Registration>>,
}

struct Inner {
    options: UdpOptions,
    engine: Engine,
    state: Mutex<State>,
    failure: Arc<Mutex<Option<Arc<Error>>>>,
    counters: Arc<UdpCounters>,
}

/// Tracks UDP peers as connections: each datagram goes to its source's [`Tendril`],
/// created through the acceptor on first contact, so a connectionless protocol gets
/// per-peer state, framers and close reasons like TCP. A cheap handle: clones share the
/// manager. Lookups, stats, stop and shutdown come from the [`Manager`] trait: `stop`
/// stops accepting new peers while tracked ones go on; `shutdown` and
/// `graceful_shutdown` stop receiving. [`udp_stats`](Self::udp_stats) has the counters
/// only UDP has (datagrams, drops).
///
/// Frames default to the identity framer (one datagram, one frame; an empty datagram
/// is an empty frame). A datagram may hold several frames, and a frame never spans
/// datagrams: bytes left at the end of a datagram are given to the receive framer's
/// `decode_eof`, so an unfinished frame is a framing error. Each frame sent is one
/// datagram. Datagrams reach their peer's framer without a copy.
///
/// ```no_run
/// use bytes::Bytes;
/// use tendril_net::app::acceptor_fn;
/// use tendril_net::wrap::NoWrapper;
/// use tendril_net::{BoxError, Tendril, UdpManager};
/// use tower::service_fn;
///
/// # async fn run() -> Result<(), BoxError> {
/// let manager = UdpManager::builder("127.0.0.1:5353".parse()?)
///     .max_connections(10_000)
///     .idle_timeout(Some(std::time::Duration::from_secs(30)))
///     .build();
/// let addr = manager.start(acceptor_fn(|_peer: Tendril| -> Result<_, BoxError> {
///     // One application per peer: state kept here is per source address.
///     let mut seen = 0u64;
///     Ok(service_fn(move |datagram: Bytes| {
///         seen += 1;
///         let reply = Bytes::from(format!("{seen}: {} bytes", datagram.len()));
///         async move { Ok::<_, BoxError>(reply) }
///     }))
/// }), NoWrapper)?;
/// println!("listening on udp {addr}");
/// # Ok(()) }
/// # let _ = run();
/// ```
#[derive(Clone)]
pub struct UdpManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for UdpManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpManager")
            .field("engine", &self.inner.engine)
            .finish_non_exhaustive()
    }
}

/// True if `service` is ready now (never waited for).
fn ready_now<S: Service<T>, T>(service: &mut S) -> bool {
    matches!(
        poll_fn(|cx| service.poll_ready(cx)).now_or_never(),
        Some(Ok(()))
    )
}

/// Serves the new peers of a started manager.
struct Serve<A, W, F, In, Out> {
    engine: Engine,
    local: Addr,
    acceptor: A,
    wrapper: W,
    framers: F,
    frames: PhantomData<fn() -> (In, Out)>,
}

impl<A, W, F, In, Out> Spawn for Serve<A, W, F, In, Out>
where
    A: Acceptor<In, Out> + Send + 'static,
    W: UdpWrapper,
    F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    In: Send + 'static,
    Out: Send + 'static,
{
    fn ready(&mut self) -> bool {
        ready_now(&mut self.acceptor) && ready_now(&mut self.wrapper)
    }

    fn spawn(&mut self, peer: UdpPeer) -> (Shed, Accepted) {
        let remote = Addr::from(peer.peer());
        let wrapping = self.wrapper.call(peer);
        let (tendril, accepted) = self.engine.serve_datagrams(
            wrapping,
            self.local.clone(),
            remote,
            (self.framers)(),
            &mut self.acceptor,
        );
        (Box::new(move || tendril.shed()), accepted)
    }
}

impl UdpManager {
    /// A manager for `addr` with the default options.
    pub fn new(addr: SocketAddr) -> Self {
        UdpManager::builder(addr).build()
    }

    /// A builder for a manager of `addr` (IPv4 or IPv6; port 0 picks a free port).
    pub fn builder(addr: SocketAddr) -> UdpBuilder {
        let options = UdpOptions {
            addr,
            inbound_queue: 4096,
            inbound_budget: 65_536,
            reject_ttl: Duration::from_secs(10),
            max_consecutive_errors: 10,
            send_buffer: None,
            receive_buffer: Some(8 * 1024 * 1024),
            reuse_port: false,
            adopted: None,
        };
        let connection = ConnectionConfig {
            idle_timeout: Some(Duration::from_secs(60)),
            ..ConnectionConfig::default()
        };
        Builder::new(
            options,
            Bounds::new(65_536, Some(Duration::from_secs(1))),
            connection,
        )
    }

    /// A builder for a manager on `socket`, a bound UDP socket this process did not
    /// bind itself (passed by systemd, or by other code); its address is the
    /// endpoint, and `reuse_port` does not apply.
    ///
    /// # Errors
    ///
    /// I/O errors reading the socket's address.
    pub fn adopt(socket: std::net::UdpSocket) -> io::Result<UdpBuilder> {
        let mut builder = UdpManager::builder(socket.local_addr()?);
        builder.options.adopted = Some(Arc::new(socket));
        Ok(builder)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The counters only UDP has: datagrams in and out, drops, the peers routed to.
    pub fn udp_stats(&self) -> UdpStats {
        self.inner.counters.snapshot()
    }

    /// Binds the socket and receives datagrams, calling `acceptor` for each new peer
    /// (frames are [`Bytes`]; framers start as identity) after `wrapper` wrapped its
    /// datagrams ([`NoWrapper`](crate::wrap::NoWrapper) for none; see
    /// [`UdpWrapper`]). Returns the bound address.
    ///
    /// # Errors
    ///
    /// I/O errors from binding; [`Error::is_config`] if already started, opened by an
    /// earlier `connect` (start first, then connect), or shut down.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start<A, W>(&self, acceptor: A, wrapper: W) -> Result<SocketAddr, Error>
    where
        A: Acceptor<Bytes, Bytes> + Send + 'static,
        W: UdpWrapper,
    {
        self.start_with_framers(acceptor, wrapper, FramerSwitch::default)
    }

    /// [`start`](Self::start) for any frame types: `framers` makes each peer's initial
    /// framers.
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
        W: UdpWrapper,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let mut state = self.state();
        if state.socket.is_some() {
            return Err(Error::config(
                "the manager was already started or opened by connect",
            ));
        }
        let engine = &self.inner.engine;
        let (socket, local) = engine.start(|| {
            let socket = self.bind()?;
            let local = socket.local_addr()?;
            Ok(((socket, local), local.into()))
        })?;
        let serve = Serve {
            engine: engine.clone(),
            local: local.into(),
            acceptor,
            wrapper,
            framers,
            frames: PhantomData,
        };
        self.run(&mut state, socket, Some(Box::new(serve)));
        Ok(local)
    }

    fn bind(&self) -> io::Result<Arc<Socket>> {
        let options = &self.inner.options;
        let socket = match &options.adopted {
            Some(adopted) => adopted.try_clone()?,
            None => {
                let socket = socket2::Socket::new(
                    socket2::Domain::for_address(options.addr),
                    socket2::Type::DGRAM,
                    Some(socket2::Protocol::UDP),
                )?;
                #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
                if options.reuse_port {
                    socket.set_reuse_port(true)?;
                }
                socket.bind(&options.addr.into())?;
                std::net::UdpSocket::from(socket)
            }
        };
        socket.set_nonblocking(true)?;
        let sock = socket2::SockRef::from(&socket);
        if let Some(bytes) = options.send_buffer {
            sock.set_send_buffer_size(bytes)?;
        }
        if let Some(bytes) = options.receive_buffer {
            // Asked for; the kernel grants what its limits allow.
            sock.set_recv_buffer_size(bytes)?;
        }
        let granted = sock.recv_buffer_size()?;
        self.inner
            .counters
            .receive_buffer
            .store(granted as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Arc::new(Socket::new(socket)?))
    }

    /// Starts the receive loop on `socket`.
    fn run(&self, state: &mut State, socket: Arc<Socket>, spawner: Option<Box<dyn Spawn>>) {
        let (registrations, registration_rx) = mpsc::channel(64);
        let inner = &self.inner;
        let settings = Settings {
            inbound_queue: inner.options.inbound_queue,
            inbound_budget: inner.options.inbound_budget,
            reject_ttl: inner.options.reject_ttl,
            max_consecutive_errors: inner.options.max_consecutive_errors,
            max_peers: inner.engine.inner.bounds.max_connections,
            shed_idle_after: inner.engine.inner.bounds.shed_idle_after,
        };
        let router = Router::new(Parts {
            socket: socket.clone(),
            engine: inner.engine.clone(),
            counters: inner.counters.clone(),
            spawner,
            settings,
            registrations: registration_rx,
            failure: inner.failure.clone(),
        });
        inner.engine.spawn(router.run());
        tracing::debug!(local = ?socket.local_addr().ok(), "udp manager receiving");
        state.socket = Some(socket);
        state.registrations = Some(registrations);
    }

    /// The socket and the receive loop's registrations, opening the socket (without
    /// accepting new peers) if the manager was not started.
    fn open(&self) -> Result<(Arc<Socket>, mpsc::Sender<Registration>), Error> {
        let mut state = self.state();
        if state.socket.is_none() {
            let engine = &self.inner.engine;
            let socket = self.bind().map_err(|err| engine.listen_error(err))?;
            engine.set_local(socket.local_addr()?);
            self.run(&mut state, socket, None);
        }
        match (&state.socket, &state.registrations) {
            (Some(socket), Some(registrations)) => Ok((socket.clone(), registrations.clone())),
            _ => Err(Error::closed()),
        }
    }

    /// The error that stopped the manager (too many consecutive receive errors).
    pub fn error(&self) -> Option<Arc<Error>> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Tracks `target` as a peer of this manager's socket and runs `acceptor`'s
/// application on it (after `wrapper` wrapped its datagrams), so that datagrams from
/// `target` (replies) reach it. Opens the socket, without accepting new peers, if the
/// manager was not started.
impl<W: UdpWrapper> Connect<W> for UdpManager {
    type Target = SocketAddr;

    fn connect_with_framers<A, In, Out>(
        &self,
        target: SocketAddr,
        mut acceptor: A,
        mut wrapper: W,
        framers: FramerSwitch<In, Out>,
    ) -> impl Future<Output = Result<Tendril<In, Out>, Error>> + Send + 'static
    where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let manager = self.clone();
        async move {
            if manager.is_shut_down() {
                return Err(Error::closed());
            }
            let (socket, registrations) = manager.open()?;
            let local = socket.local_addr()?;
            let (inbound, receiver) = mpsc::channel(manager.inner.options.inbound_queue);
            // Registered before the application can send, so no reply arrives unrouted.
            let (done, registered) = oneshot::channel();
            let registration = Registration {
                peer: target,
                inbound,
                done,
            };
            registrations
                .send(registration)
                .await
                .map_err(|_| Error::closed())?;
            let link = registered.await.map_err(|_| Error::closed())?;
            ServiceExt::<Tendril<In, Out>>::ready(&mut acceptor)
                .await
                .map_err(|err| Error::application(err.into()))?;
            let peer = UdpPeer::new(
                socket,
                target,
                receiver,
                link.departures,
                link.generation,
                manager.inner.counters.clone(),
            );
            let ready = ServiceExt::<UdpPeer>::ready(&mut wrapper).await;
            ready.map_err(|err| Error::wrap(err.into()))?;
            let wrapping = wrapper.call(peer);
            let (tendril, accepted) = manager.inner.engine.serve_datagrams(
                wrapping,
                local.into(),
                target.into(),
                framers,
                &mut acceptor,
            );
            accepted.await?;
            Ok(tendril)
        }
    }
}

impl Manager for UdpManager {
    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
