//! The UDP manager: one socket, one tracked "connection" per peer.

use std::fmt;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::peer_io::PeerIo;
use super::router::{Channels, Registration, Router, Settings, Spawner};
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::manager::common::manager_common;
use crate::manager::{Core, Endpoint};
use crate::tendril::{ConnectionConfig, ReplyOrder, Tendril};

/// Options and bounds of a [`UdpManager`] (see [`UdpManager::builder`]).
#[derive(Debug, Clone)]
pub struct UdpBuilder {
    addr: SocketAddr,
    max_peers: usize,
    inbound_queue: usize,
    reject_ttl: Duration,
    max_consecutive_errors: u32,
    connection: ConnectionConfig,
}

impl UdpBuilder {
    /// Peers tracked at once (default 65,536). A datagram from a new peer when the
    /// table is full is dropped and counted; established peers are never evicted to
    /// make room.
    pub fn max_peers(&mut self, max: usize) -> &mut Self {
        self.max_peers = max;
        self
    }

    /// Datagrams queued per peer before more are dropped and counted (default 64). A
    /// full queue never stalls other peers or the receive loop.
    pub fn inbound_queue(&mut self, datagrams: usize) -> &mut Self {
        self.inbound_queue = datagrams.max(1);
        self
    }

    /// Peers idle this long are evicted and their application told
    /// ([`CloseReason::Idle`](crate::CloseReason::Idle)); default 60 s, `None` never.
    pub fn idle_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.connection.idle_timeout = timeout;
        self
    }

    /// How long a rejected peer's datagrams are dropped without asking the acceptor
    /// again (default 10 s).
    pub fn reject_ttl(&mut self, ttl: Duration) -> &mut Self {
        self.reject_ttl = ttl;
        self
    }

    /// Consecutive receive errors (other than transient ones such as ICMP port
    /// unreachable) after which the manager stops with the error (default 10).
    pub fn max_consecutive_errors(&mut self, errors: u32) -> &mut Self {
        self.max_consecutive_errors = errors;
        self
    }

    /// Frames of one peer handed to the application before earlier ones are answered
    /// (default 1).
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

    /// Per-peer bounds and behaviour (the outbound queue, `max_in_flight`, ...).
    pub fn connection(&mut self, config: ConnectionConfig) -> &mut Self {
        self.connection = config;
        self
    }

    /// Creates the manager (nothing is bound until it is started or connects).
    pub fn build(&self) -> UdpManager {
        UdpManager {
            inner: Arc::new(Inner {
                endpoint: Endpoint::Inet(self.addr),
                options: self.clone(),
                core: Arc::new(Core::new("udp", self.connection.clone(), self.max_peers)),
                state: Mutex::default(),
                accepting: Arc::new(AtomicBool::new(false)),
                failure: Arc::default(),
            }),
        }
    }
}

#[derive(Default)]
struct State {
    socket: Option<Arc<UdpSocket>>,
    local_addr: Option<SocketAddr>,
    registrations: Option<mpsc::Sender<Registration>>,
    stop: Option<mpsc::Sender<()>>,
    listening: bool,
}

struct Inner {
    endpoint: Endpoint,
    options: UdpBuilder,
    core: Arc<Core>,
    state: Mutex<State>,
    accepting: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<Arc<Error>>>>,
}

/// Tracks UDP peers as connections: each datagram goes to its source's [`Tendril`],
/// created through the acceptor on first contact, so a connectionless protocol gets
/// per-peer state, framers and close reasons like TCP. A cheap handle: clones share the
/// manager.
///
/// Frames default to the identity framer (one datagram, one frame). A datagram may
/// hold several frames, and a frame never spans datagrams: bytes left at the end of a
/// datagram are given to the receive framer's `decode_eof`, so an unfinished frame is a
/// framing error. Each frame sent is one datagram.
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
            .field("endpoint", &self.inner.endpoint)
            .field("local_addr", &self.local_addr())
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
        UdpBuilder {
            addr,
            max_peers: 65_536,
            inbound_queue: 64,
            reject_ttl: Duration::from_secs(10),
            max_consecutive_errors: 10,
            connection: ConnectionConfig {
                idle_timeout: Some(Duration::from_secs(60)),
                ..ConnectionConfig::default()
            },
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }

    /// Binds the socket and receives datagrams, calling `acceptor` for each new peer
    /// (frames are [`Bytes`]; framers start as identity). Returns the bound address.
    ///
    /// # Errors
    ///
    /// I/O errors from binding; [`Error::is_config`] if already started or opened by
    /// an earlier `connect` (start first, then connect).
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
        if state.socket.is_some() {
            return Err(Error::config(
                "the manager was already started or opened by connect",
            ));
        }
        let socket = self.bind()?;
        let core = self.core().clone();
        let spawn_socket = socket.clone();
        let spawner: Spawner = Box::new(move |peer, inbound| {
            // Never wait for the acceptor here: that would stall every peer.
            match poll_fn(|cx| acceptor.poll_ready(cx)).now_or_never() {
                Some(Ok(())) => {}
                _ => return None,
            }
            let local = spawn_socket.local_addr().ok()?;
            let io = PeerIo::new(
                framers(),
                inbound,
                spawn_socket.clone(),
                peer,
                core.counters.clone(),
            );
            let (_tendril, accepted) =
                core.spawn_io(io, local.into(), peer.into(), None, &mut acceptor);
            Some(accepted)
        });
        let local = self.run(&mut state, socket, Some(spawner));
        state.listening = true;
        Ok(local)
    }

    fn bind(&self) -> Result<Arc<UdpSocket>, Error> {
        let socket = std::net::UdpSocket::bind(self.inner.options.addr)?;
        socket.set_nonblocking(true)?;
        Ok(Arc::new(UdpSocket::from_std(socket)?))
    }

    /// Starts the receive loop on `socket`.
    fn run(
        &self,
        state: &mut State,
        socket: Arc<UdpSocket>,
        spawner: Option<Spawner>,
    ) -> SocketAddr {
        let local = socket
            .local_addr()
            .unwrap_or_else(|_| self.inner.options.addr);
        let (registrations, registration_rx) = mpsc::channel(64);
        let (stop, stop_rx) = mpsc::channel(1);
        let options = &self.inner.options;
        let settings = Settings {
            inbound_queue: options.inbound_queue,
            reject_ttl: options.reject_ttl,
            max_consecutive_errors: options.max_consecutive_errors,
        };
        self.inner
            .accepting
            .store(spawner.is_some(), Ordering::Release);
        let router = Router::new(
            socket.clone(),
            self.core().clone(),
            spawner,
            settings,
            self.inner.accepting.clone(),
            Channels {
                registrations: registration_rx,
                stop: stop_rx,
            },
            self.inner.failure.clone(),
        );
        self.core().tracker.spawn(router.run());
        state.socket = Some(socket);
        state.local_addr = Some(local);
        state.registrations = Some(registrations);
        state.stop = Some(stop);
        tracing::debug!(%local, "udp manager receiving");
        local
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
        registered.await.map_err(|_| Error::closed())?;
        crate::manager::core::Core::acceptor_ready(&mut acceptor)
            .await
            .map_err(Error::application)?;
        let io = PeerIo::new(framers, receiver, socket, target, core.counters.clone());
        let (tendril, accepted) =
            core.spawn_io(io, local.into(), target.into(), None, &mut acceptor);
        accepted.await.map_err(|_| Error::closed())??;
        Ok(tendril)
    }

    /// The bound address once started or connected (port 0 resolved).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.state().local_addr
    }

    /// True while accepting new peers.
    pub fn running(&self) -> bool {
        self.state().listening && self.inner.accepting.load(Ordering::Acquire)
    }

    /// The error that stopped the manager (too many consecutive receive errors).
    pub fn error(&self) -> Option<Arc<Error>> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops accepting new peers; tracked peers go on.
    pub fn stop(&self) {
        self.inner.accepting.store(false, Ordering::Release);
        self.core().signals.accept.cancel();
    }

    fn stop_receiving(&self) {
        self.inner.accepting.store(false, Ordering::Release);
        if let Some(stop) = self.state().stop.take() {
            let _ = stop.try_send(());
        }
    }

    /// Stops receiving and closes every peer now.
    pub fn shutdown(&self) {
        self.stop_receiving();
        self.core().shutdown();
    }

    /// Stops receiving, lets in-flight frames finish and their replies go out, then
    /// closes each peer; after `deadline` the rest are closed at once. Resolves to true
    /// if every peer finished in time.
    pub fn graceful_shutdown(
        &self,
        deadline: Duration,
    ) -> impl Future<Output = bool> + Send + 'static {
        self.stop_receiving();
        self.core().graceful_shutdown(deadline)
    }
}

manager_common!(UdpManager, "udp");
