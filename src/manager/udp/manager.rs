//! The UDP manager: one socket, one tracked "connection" per peer.

use std::any::Any;
use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::peer_io::{PeerIo, PeerParts};
use super::router::{Registration, Router, Settings, Spawner};
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::manager::core::StreamFacts;
use crate::manager::{Builder, Core, Engine, Manager};
use crate::tendril::{ConnectionConfig, Control, Tendril};

/// The UDP options: the socket's address and the receive loop's bounds.
#[derive(Debug, Clone)]
pub struct UdpOptions {
    addr: SocketAddr,
    inbound_queue: usize,
    reject_ttl: Duration,
    max_consecutive_errors: u32,
    reclaim_after: Duration,
    send_buffer: Option<usize>,
    receive_buffer: Option<usize>,
    reuse_port: bool,
    /// A bound socket handed over ([`UdpManager::adopt`]), used instead of binding.
    adopted: Option<Arc<std::net::UdpSocket>>,
}

/// A [`UdpManager`]'s options and bounds (see [`UdpManager::builder`]): the shared
/// connection settings of [`Builder`] (each peer is a connection; its idle timeout
/// defaults to 60 s), and the UDP options here.
pub type UdpBuilder = Builder<UdpOptions>;

impl Builder<UdpOptions> {
    /// Peers tracked at once (default 65,536; the same as `max_connections`). When the
    /// table is full, a peer in a one-datagram exchange that has been quiet for
    /// [`reclaim_after`](Self::reclaim_after) makes room for a new one, the oldest
    /// first; otherwise the new peer's datagram is dropped and counted. Peers in a
    /// conversation and peers this side connected to are never pushed out.
    pub fn max_peers(self, max: usize) -> Self {
        self.max_connections(max)
    }

    /// Datagrams queued per peer before more are dropped and counted (default 64). A
    /// full queue never stalls other peers or the receive loop.
    pub fn inbound_queue(mut self, datagrams: usize) -> Self {
        self.options.inbound_queue = datagrams.max(1);
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

    /// How long a peer in a one-datagram exchange must have been quiet before it may
    /// be reclaimed for a new peer when the table is full (default 1 s); also the
    /// longest gap within a conversation. A peer whose next datagram comes sooner than
    /// this is in a conversation and is not reclaimed; one that speaks again only after
    /// a longer silence starts a new one-datagram exchange (a source port reused for
    /// another query must not make a peer permanent). Raise it for protocols whose
    /// sessions have long pauses. A reclaimed peer's calls in flight still finish and
    /// their replies go out; it then closes as idle, counted in `Stats::reclaimed`.
    pub fn reclaim_after(mut self, quiet: Duration) -> Self {
        self.options.reclaim_after = quiet;
        self
    }

    /// `SO_SNDBUF` of the socket (default: the system's). Every peer sends through
    /// it; when it is full, each waits for room without holding the others back.
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.options.send_buffer = Some(bytes);
        self
    }

    /// `SO_RCVBUF` of the socket (default: the system's): how many datagrams the
    /// kernel holds while the receive loop is busy.
    pub fn receive_buffer_size(mut self, bytes: usize) -> Self {
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

    /// Creates the manager (nothing is bound until it is started or connects).
    pub fn build(&self) -> UdpManager {
        UdpManager {
            inner: Arc::new(Inner {
                options: self.options.clone(),
                max_peers: self.bounds.max_connections,
                engine: Engine::with_bounds(
                    "udp",
                    self.options.addr,
                    self.connection.clone(),
                    self.bounds,
                ),
                state: Mutex::default(),
                failure: Arc::default(),
            }),
        }
    }
}

#[derive(Default)]
struct State {
    socket: Option<Arc<UdpSocket>>,
    registrations: Option<mpsc::Sender<Registration>>,
}

struct Inner {
    options: UdpOptions,
    max_peers: usize,
    engine: Engine,
    state: Mutex<State>,
    failure: Arc<Mutex<Option<Arc<Error>>>>,
}

/// Tracks UDP peers as connections: each datagram goes to its source's [`Tendril`],
/// created through the acceptor on first contact, so a connectionless protocol gets
/// per-peer state, framers and close reasons like TCP. A cheap handle: clones share the
/// manager. Lookups, stats, stop and shutdown come from the [`Manager`] trait: `stop`
/// stops accepting new peers while tracked ones go on; `shutdown` and
/// `graceful_shutdown` stop receiving.
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
/// use tendril_net::{BoxError, Tendril, UdpManager};
/// use tower::service_fn;
///
/// # async fn run() -> Result<(), BoxError> {
/// let manager = UdpManager::builder("127.0.0.1:5353".parse()?)
///     .max_peers(10_000)
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
/// }))?;
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

impl UdpManager {
    /// A manager for `addr` with the default options.
    pub fn new(addr: SocketAddr) -> Self {
        UdpManager::builder(addr).build()
    }

    /// A builder for a manager of `addr` (IPv4 or IPv6; port 0 picks a free port).
    pub fn builder(addr: SocketAddr) -> UdpBuilder {
        let options = UdpOptions {
            addr,
            inbound_queue: 64,
            reject_ttl: Duration::from_secs(10),
            max_consecutive_errors: 10,
            reclaim_after: Duration::from_secs(1),
            send_buffer: None,
            receive_buffer: None,
            reuse_port: false,
            adopted: None,
        };
        let connection = ConnectionConfig {
            idle_timeout: Some(Duration::from_secs(60)),
            ..ConnectionConfig::default()
        };
        Builder::with(65_536, connection, options)
    }

    /// A builder for a manager on `socket`, a bound UDP socket this process did not
    /// bind itself (passed by systemd, or by other code); its address is the
    /// endpoint, and `reuse_port` does not apply.
    ///
    /// # Errors
    ///
    /// I/O errors reading the socket's address.
    pub fn adopt(socket: std::net::UdpSocket) -> std::io::Result<UdpBuilder> {
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

    fn core(&self) -> &Arc<Core> {
        self.inner.engine.core()
    }

    /// Binds the socket and receives datagrams, calling `acceptor` for each new peer
    /// (frames are [`Bytes`]; framers start as identity). Returns the bound address.
    ///
    /// # Errors
    ///
    /// I/O errors from binding; [`Error::is_config`] if already started, opened by an
    /// earlier `connect` (start first, then connect), or shut down.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start<A>(&self, acceptor: A) -> Result<SocketAddr, Error>
    where
        A: Acceptor<Bytes, Bytes> + Send + 'static,
    {
        self.start_with_framers(acceptor, FramerSwitch::default)
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
    pub fn start_with_framers<A, In, Out, F>(
        &self,
        mut acceptor: A,
        framers: F,
    ) -> Result<SocketAddr, Error>
    where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let mut state = self.state();
        let engine = &self.inner.engine;
        engine.check_startable()?;
        if state.socket.is_some() {
            return Err(Error::config(
                "the manager was already started or opened by connect",
            ));
        }
        let socket = self.bind()?;
        let local = socket.local_addr()?;
        engine.set_listening(local)?;
        let core = self.core().clone();
        let spawner: Spawner = Box::new(move |parts: PeerParts| {
            // Never wait for the acceptor here: that would stall every peer.
            match poll_fn(|cx| acceptor.poll_ready(cx)).now_or_never() {
                Some(Ok(())) => {}
                _ => return None,
            }
            let peer = parts.peer;
            let io = PeerIo::new(framers(), parts);
            let (tendril, accepted) = core.spawn_io(
                io,
                local.into(),
                peer.into(),
                StreamFacts::default(),
                &mut acceptor,
            );
            let control: Arc<dyn Control> = tendril.control();
            Some((control, accepted))
        });
        self.run(&mut state, socket, Some(spawner));
        Ok(local)
    }

    fn bind(&self) -> Result<Arc<UdpSocket>, Error> {
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
            sock.set_recv_buffer_size(bytes)?;
        }
        Ok(Arc::new(UdpSocket::from_std(socket)?))
    }

    /// Starts the receive loop on `socket`.
    fn run(&self, state: &mut State, socket: Arc<UdpSocket>, spawner: Option<Spawner>) {
        let (registrations, registration_rx) = mpsc::channel(64);
        let options = &self.inner.options;
        let settings = Settings {
            inbound_queue: options.inbound_queue,
            reject_ttl: options.reject_ttl,
            max_consecutive_errors: options.max_consecutive_errors,
            max_peers: self.inner.max_peers,
            reclaim_after: options.reclaim_after,
        };
        let router = Router::new(
            socket.clone(),
            self.core().clone(),
            spawner,
            settings,
            registration_rx,
            self.inner.failure.clone(),
        );
        self.core().tracker.spawn(router.run());
        state.socket = Some(socket);
        state.registrations = Some(registrations);
        tracing::debug!(local = ?self.inner.engine.local_addr(), "udp manager receiving");
    }

    /// Tracks `target` as a peer of this manager's socket and runs `acceptor`'s
    /// application on it, so that datagrams from `target` (replies) reach it. Opens the
    /// socket, without accepting new peers, if the manager was not started.
    ///
    /// # Errors
    ///
    /// I/O errors from binding; [`Error::is_application`] if the acceptor refused or
    /// failed; [`Error::is_closed`] after shutdown.
    pub async fn connect<A>(&self, target: SocketAddr, acceptor: A) -> Result<Tendril, Error>
    where
        A: Acceptor<Bytes, Bytes>,
    {
        self.connect_with_framers(target, acceptor, FramerSwitch::default())
            .await
    }

    /// [`connect`](Self::connect) for any frame types, with the initial `framers`.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_framers<A, In, Out>(
        &self,
        target: SocketAddr,
        mut acceptor: A,
        framers: FramerSwitch<In, Out>,
    ) -> Result<Tendril<In, Out>, Error>
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let core = self.core().clone();
        if core.is_closing() {
            return Err(Error::closed());
        }
        let (socket, registrations) = {
            let mut state = self.state();
            if state.socket.is_none() {
                let socket = self.bind()?;
                self.inner.engine.set_local(socket.local_addr()?);
                self.run(&mut state, socket, None);
            }
            match (&state.socket, &state.registrations) {
                (Some(socket), Some(registrations)) => (socket.clone(), registrations.clone()),
                _ => return Err(Error::closed()),
            }
        };
        let local = socket.local_addr()?;
        let (inbound, receiver) = mpsc::channel(self.inner.options.inbound_queue);
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
        Core::acceptor_ready(&mut acceptor)
            .await
            .map_err(Error::application)?;
        let parts = PeerParts {
            socket,
            peer: target,
            inbound: receiver,
            departures: link.departures,
            generation: link.generation,
            core: core.clone(),
        };
        let io = PeerIo::new(framers, parts);
        let (tendril, accepted) = core.spawn_io(
            io,
            local.into(),
            target.into(),
            StreamFacts::default(),
            &mut acceptor,
        );
        accepted.await.map_err(|_| Error::closed())??;
        Ok(tendril)
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

impl Manager for UdpManager {
    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
