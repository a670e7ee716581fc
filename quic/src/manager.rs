//! [`QuicManager`]: a tendril-net manager whose connections are QUIC streams, built
//! on the engine's public API as any plug-in transport is.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, EndpointConfig, IdleTimeout, Incoming, TransportConfig, VarInt};
use tendril_net::app::Acceptor;
use tendril_net::framer::FramerSwitch;
use tendril_net::manager::{Bounds, BuildManager, Builder, Engine, TransportMetric};
use tendril_net::wrap::{BoxIo, NoWrapper, TlsInfo};
use tendril_net::{Addr, Connect, ConnectionConfig, Error, Manager, Tendril};
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::stream::{ErrorCode, QuicDatagrams, QuicStream, DATAGRAMS};

/// New streams handed from the connections to the one task holding the acceptor: a
/// full queue holds the connections' stream accepts back (the peer's streams then
/// wait in QUIC flow control).
const STREAM_QUEUE: usize = 256;

/// A QUIC endpoint's settings: its address, its TLS (QUIC always carries TLS 1.3),
/// and its bounds. Streams are bounded by the manager's [`Builder`] as connections of
/// any transport are (`max_connections` there counts streams, the memory budget
/// covers them all).
#[derive(Clone)]
pub struct Quic {
    addr: SocketAddr,
    /// A socket bound by someone else (systemd), used instead of binding.
    adopted: Option<Arc<std::net::UdpSocket>>,
    reuse_port: bool,
    server: Option<Arc<QuicServerConfig>>,
    client: Option<Arc<QuicClientConfig>>,
    max_connections: usize,
    max_handshakes: usize,
    retry_above: usize,
    handshake_timeout: Duration,
    max_streams: u32,
    uni_streams: u32,
    datagrams: bool,
    idle_timeout: Duration,
}

impl fmt::Debug for Quic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quic")
            .field("addr", &self.addr)
            .field("adopted", &self.adopted.is_some())
            .field("reuse_port", &self.reuse_port)
            .field("server", &self.server.is_some())
            .field("client", &self.client.is_some())
            .field("max_connections", &self.max_connections)
            .field("max_handshakes", &self.max_handshakes)
            .field("retry_above", &self.retry_above)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_streams", &self.max_streams)
            .field("uni_streams", &self.uni_streams)
            .field("datagrams", &self.datagrams)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl Quic {
    /// An endpoint on `addr` (port 0: any), with no TLS yet: give it
    /// [`server_tls`](Self::server_tls) to accept and [`client_tls`](Self::client_tls)
    /// to connect. Defaults: 10,000 QUIC connections, 1,024 handshakes at once (more
    /// are refused), a Retry (address validation) for unvalidated sources once 64 are
    /// in progress, a 10 s handshake timeout, 100 concurrent bidirectional streams per
    /// connection, a 30 s idle timeout.
    pub fn new(addr: SocketAddr) -> Self {
        Quic {
            addr,
            adopted: None,
            reuse_port: false,
            server: None,
            client: None,
            max_connections: 10_000,
            max_handshakes: 1024,
            retry_above: 64,
            handshake_timeout: Duration::from_secs(10),
            max_streams: 100,
            uni_streams: 0,
            datagrams: false,
            idle_timeout: Duration::from_secs(30),
        }
    }

    /// An endpoint on `socket`, bound by someone else (systemd socket activation:
    /// `LISTEN_FDS`), instead of binding one; otherwise as [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// The socket's address cannot be read.
    pub fn adopt(socket: std::net::UdpSocket) -> Result<Self, Error> {
        let addr = socket.local_addr()?;
        let mut quic = Quic::new(addr);
        quic.adopted = Some(Arc::new(socket));
        Ok(quic)
    }

    /// Sets `SO_REUSEPORT` before binding (default off), so several processes serve
    /// one port, the kernel spreading the peers among them by their address.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The TLS of accepted connections (its ALPN protocols are the ones offered).
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] if `tls` cannot carry QUIC (no TLS 1.3 cipher suite).
    pub fn server_tls(mut self, tls: rustls::ServerConfig) -> Result<Self, Error> {
        let quic = QuicServerConfig::try_from(tls).map_err(Error::config)?;
        self.server = Some(Arc::new(quic));
        Ok(self)
    }

    /// The TLS of connections this endpoint makes (its ALPN protocols are the ones
    /// asked for).
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] if `tls` cannot carry QUIC (no TLS 1.3 cipher suite).
    pub fn client_tls(mut self, tls: rustls::ClientConfig) -> Result<Self, Error> {
        let quic = QuicClientConfig::try_from(tls).map_err(Error::config)?;
        self.client = Some(Arc::new(quic));
        Ok(self)
    }

    /// QUIC connections at once, at most (default 10,000); more are refused.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Handshakes in progress at once, at most (default 1,024); more are refused.
    pub fn max_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = max.max(1);
        self
    }

    /// Handshakes in progress beyond which a source that has not proved its address
    /// is sent a Retry first (default 64): a flood of Initial packets from spoofed
    /// sources then costs a stateless packet each, not a handshake. 0 validates every
    /// source.
    pub fn retry_above(mut self, handshakes: usize) -> Self {
        self.retry_above = handshakes;
        self
    }

    /// How long a handshake may take, accepted or made (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Bidirectional streams a peer may have open at once on one connection (default
    /// 100): a peer opening more waits for QUIC's stream credit, none is dropped.
    pub fn max_streams(mut self, streams: u32) -> Self {
        self.max_streams = streams;
        self
    }

    /// Unidirectional streams a peer may have open at once on one connection (default
    /// 0: none, the peer gets no credit for them). Each is served as a receive-only
    /// Tendril through the same acceptor ([`is_receive_only`](crate::is_receive_only)
    /// tells it from a bidirectional one; a reply to it closes it with an error).
    pub fn uni_streams(mut self, streams: u32) -> Self {
        self.uni_streams = streams;
        self
    }

    /// Serves each connection's QUIC datagrams (RFC 9221) as one more Tendril of that
    /// connection (default off: the peer is told none are taken), through the same
    /// acceptor, under stream number [`DATAGRAMS`](crate::DATAGRAMS): each datagram
    /// decoded on its own, each frame sent one datagram (a datagram too large for the
    /// path is dropped, as datagrams may be).
    pub fn datagrams(mut self, on: bool) -> Self {
        self.datagrams = on;
        self
    }

    /// How long a connection may go without a packet before it is closed (default
    /// 30 s; the smaller of both ends' applies).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The endpoint's socket: the adopted one, or one bound now.
    fn socket(&self) -> io::Result<std::net::UdpSocket> {
        if let Some(adopted) = &self.adopted {
            return adopted.try_clone();
        }
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(self.addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        socket.bind(&self.addr.into())?;
        Ok(socket.into())
    }

    fn transport(&self) -> Arc<TransportConfig> {
        let mut transport = TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(self.uni_streams))
            .datagram_receive_buffer_size(self.datagrams.then_some(64 * 1024))
            .max_idle_timeout(IdleTimeout::try_from(self.idle_timeout).ok());
        Arc::new(transport)
    }

    fn server_config(&self) -> Option<quinn::ServerConfig> {
        let crypto = self.server.clone()?;
        let mut config = quinn::ServerConfig::with_crypto(crypto);
        config.transport_config(self.transport());
        Some(config)
    }

    fn client_config(&self) -> Option<quinn::ClientConfig> {
        let crypto = self.client.clone()?;
        let mut config = quinn::ClientConfig::new(crypto);
        config.transport_config(self.transport());
        Some(config)
    }
}

impl BuildManager for Quic {
    type Manager = QuicManager;

    fn build(builder: &Builder<Quic>) -> QuicManager {
        let options = builder.options().clone();
        let engine = Engine::new(
            "quic",
            Addr::Inet(options.addr),
            builder.connection_config().clone(),
            *builder.bounds(),
        );
        QuicManager {
            inner: Arc::new(Inner {
                engine,
                options,
                endpoint: OnceLock::new(),
                connections: Mutex::new(HashMap::new()),
                handshakes: AtomicUsize::new(0),
                counters: Counters::default(),
            }),
        }
    }
}

/// A QUIC endpoint whose every bidirectional stream is a connection ([`Tendril`]) of
/// its own: its framers, its application from the acceptor, its bounds, in the
/// manager's table under ([`Addr::Inet`] of the endpoint, [`Addr::Stream`] of the
/// peer, its connection's and its stream's number). Registered by name with
/// [`register`](crate::register).
#[derive(Clone)]
pub struct QuicManager {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    options: Quic,
    endpoint: OnceLock<Endpoint>,
    /// The live QUIC connections, by their stable id.
    connections: Mutex<HashMap<u64, Connection>>,
    handshakes: AtomicUsize,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    retried: AtomicU64,
    handshake_failures: AtomicU64,
    streams: AtomicU64,
}

/// A QUIC manager's own counters (its streams' are the engine's [`Stats`](tendril_net::Stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuicStats {
    /// QUIC connections open now.
    pub connections: usize,
    /// Handshakes in progress now.
    pub handshakes: usize,
    /// Connections whose handshake completed, ever.
    pub accepted: u64,
    /// Connection attempts refused (too many connections or handshakes).
    pub refused: u64,
    /// Connection attempts sent a Retry to prove their address.
    pub retried: u64,
    /// Handshakes that failed or timed out.
    pub handshake_failures: u64,
    /// Streams served, ever.
    pub streams: u64,
}

impl fmt::Display for QuicStats {
    /// One line: `quic connections=1 handshakes=0 accepted=1 refused=0 retried=0
    /// handshake_failures=0 streams=2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "quic connections={} handshakes={} accepted={} refused={} retried={} handshake_failures={} streams={}",
            self.connections,
            self.handshakes,
            self.accepted,
            self.refused,
            self.retried,
            self.handshake_failures,
            self.streams
        )
    }
}

impl fmt::Debug for QuicManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicManager")
            .field("options", &self.inner.options)
            .field("stats", &self.quic_stats())
            .finish_non_exhaustive()
    }
}

/// A new stream (or a connection's datagram flow) on its way to the acceptor.
struct NewStream {
    io: NewIo,
    remote: Addr,
}

enum NewIo {
    Stream(QuicStream),
    Datagrams(QuicDatagrams),
}

impl QuicManager {
    /// A manager with `options` and the default connection settings.
    pub fn new(options: Quic) -> Self {
        QuicManager::builder(options).build()
    }

    /// A builder with `options`, for the streams' settings and bounds: 100,000 streams
    /// at once across all connections by default, each with the connection defaults
    /// of every transport.
    pub fn builder(options: Quic) -> Builder<Quic> {
        Builder::new(
            options,
            Bounds::new(100_000, None),
            ConnectionConfig::default(),
        )
    }

    fn connections(&self) -> MutexGuard<'_, HashMap<u64, Connection>> {
        // Plain data: a panic elsewhere leaves it consistent.
        self.inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live QUIC connection with stable id `id` (a stream's
    /// [`Addr::Stream::connection`](tendril_net::Addr::Stream)): to open a stream of
    /// this end's on it with [`open_stream`](Self::open_stream) (a server's push).
    pub fn connection(&self, id: u64) -> Option<Connection> {
        self.connections().get(&id).cloned()
    }

    /// The QUIC counters.
    pub fn quic_stats(&self) -> QuicStats {
        let counters = &self.inner.counters;
        QuicStats {
            connections: self.connections().len(),
            handshakes: self.inner.handshakes.load(Ordering::Relaxed),
            accepted: counters.accepted.load(Ordering::Relaxed),
            refused: counters.refused.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            handshake_failures: counters.handshake_failures.load(Ordering::Relaxed),
            streams: counters.streams.load(Ordering::Relaxed),
        }
    }

    /// Binds and accepts QUIC connections, serving each bidirectional stream of each
    /// with `acceptor` and `Bytes` frames through [`FramerSwitch::default`]; the bound
    /// address.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] without [`Quic::server_tls`] or if already started; the
    /// bind's I/O error ([`Error::listen`]).
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

    /// [`start`](Self::start) with each stream's initial framers made by `framers`.
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
        acceptor: A,
        framers: F,
    ) -> Result<SocketAddr, Error>
    where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let options = &self.inner.options;
        let server = options
            .server_config()
            .ok_or_else(|| Error::config("a QUIC server needs Quic::server_tls"))?;
        let endpoint = self.bind(Some(server))?;
        let local = endpoint
            .local_addr()
            .map_err(|err| Error::listen("quic", err))?;
        let (streams, queued) = mpsc::channel(STREAM_QUEUE);
        let engine = &self.inner.engine;
        engine.spawn(
            self.clone()
                .serve_streams(queued, acceptor, framers, local.into()),
        );
        engine.spawn(self.clone().accept(endpoint, streams));
        Ok(local)
    }

    /// The endpoint, bound once (by the first `start` or connect).
    fn bind(&self, server: Option<quinn::ServerConfig>) -> Result<Endpoint, Error> {
        if let Some(endpoint) = self.inner.endpoint.get() {
            if server.is_some() {
                return Err(Error::config("the QUIC manager was already started"));
            }
            return Ok(endpoint.clone());
        }
        let options = &self.inner.options;
        let endpoint = self.inner.engine.start(|| {
            let socket = options.socket()?;
            let endpoint = Endpoint::new(
                EndpointConfig::default(),
                server,
                socket,
                Arc::new(quinn::TokioRuntime),
            )?;
            let local = endpoint.local_addr()?;
            Ok((endpoint, Addr::Inet(local)))
        })?;
        Ok(self.inner.endpoint.get_or_init(|| endpoint).clone())
    }

    /// The accept loop: admits or refuses each connection attempt, until shutdown.
    async fn accept(self, endpoint: Endpoint, streams: mpsc::Sender<NewStream>) {
        let closing = self.inner.engine.closing();
        tokio::pin!(closing);
        loop {
            let incoming = tokio::select! {
                incoming = endpoint.accept() => incoming,
                () = &mut closing => break,
            };
            let Some(incoming) = incoming else { break };
            self.admit(incoming, &streams);
        }
        // New attempts are refused from now on; live connections go on.
        endpoint.set_server_config(None);
    }

    /// Refuses `incoming`, sends it a Retry, or starts its handshake.
    fn admit(&self, incoming: Incoming, streams: &mpsc::Sender<NewStream>) {
        let options = &self.inner.options;
        let counters = &self.inner.counters;
        let handshakes = self.inner.handshakes.load(Ordering::Relaxed);
        let remote = incoming.remote_address();
        let full = self.connections().len() + handshakes >= options.max_connections;
        if full
            || handshakes >= options.max_handshakes
            || !self.inner.engine.admit_source(&Addr::Inet(remote))
        {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            incoming.refuse();
            return;
        }
        if handshakes >= options.retry_above && !incoming.remote_address_validated() {
            counters.retried.fetch_add(1, Ordering::Relaxed);
            // A Retry is refused only for an address already validated: not here.
            let _ = incoming.retry();
            return;
        }
        let Ok(connecting) = incoming.accept() else {
            counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.inner.handshakes.fetch_add(1, Ordering::Relaxed);
        let manager = self.clone();
        let streams = streams.clone();
        let timeout = options.handshake_timeout;
        self.inner.engine.spawn(async move {
            let handshake = tokio::time::timeout(timeout, connecting).await;
            manager.inner.handshakes.fetch_sub(1, Ordering::Relaxed);
            match handshake {
                Ok(Ok(connection)) => {
                    counters_of(&manager)
                        .accepted
                        .fetch_add(1, Ordering::Relaxed);
                    manager.run_connection(connection, streams).await;
                }
                Ok(Err(err)) => {
                    counters_of(&manager)
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%remote, %err, "QUIC handshake failed");
                }
                Err(_) => {
                    counters_of(&manager)
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%remote, "QUIC handshake timed out");
                }
            }
        });
    }

    /// Hands each stream the peer opens to the acceptor's task, until the
    /// connection closes or the manager shuts down.
    async fn run_connection(&self, connection: Connection, streams: mpsc::Sender<NewStream>) {
        let id = connection.stable_id() as u64;
        self.connections().insert(id, connection.clone());
        let tls = tls_info(&connection);
        let closing = self.inner.engine.closing();
        tokio::pin!(closing);
        let peer = connection.remote_address();
        let named = |stream| Addr::Stream {
            peer,
            connection: id,
            stream,
        };
        if self.inner.options.datagrams {
            let io = NewIo::Datagrams(QuicDatagrams::new(connection.clone()));
            if streams
                .send(NewStream {
                    io,
                    remote: named(DATAGRAMS),
                })
                .await
                .is_err()
            {
                self.connections().remove(&id);
                return;
            }
        }
        loop {
            let (io, stream) = tokio::select! {
                accepted = connection.accept_bi() => match accepted {
                    Ok((send, recv)) => {
                        let stream = u64::from(send.id());
                        (QuicStream::new(send, recv, tls.clone(), peer), stream)
                    }
                    Err(_) => break,
                },
                accepted = connection.accept_uni() => match accepted {
                    Ok(recv) => {
                        let stream = u64::from(recv.id());
                        (QuicStream::receive_only(recv, tls.clone(), peer), stream)
                    }
                    Err(_) => break,
                },
                () = &mut closing => break,
            };
            let new = NewStream {
                io: NewIo::Stream(io),
                remote: named(stream),
            };
            if streams.send(new).await.is_err() {
                break;
            }
        }
        self.connections().remove(&id);
    }

    /// Closes every QUIC connection with code 0 once the engine's streams are done.
    fn close_endpoint(&self) {
        if let Some(endpoint) = self.inner.endpoint.get() {
            endpoint.close(VarInt::from_u32(0), b"shutdown");
        }
    }
}

impl QuicManager {
    /// The task holding the acceptor: serves each new stream, in the order they come.
    async fn serve_streams<A, In, Out, F>(
        self,
        mut queued: mpsc::Receiver<NewStream>,
        mut acceptor: A,
        framers: F,
        local: Addr,
    ) where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        while let Some(NewStream { io, remote }) = queued.recv().await {
            if ServiceExt::<Tendril<In, Out>>::ready(&mut acceptor)
                .await
                .is_err()
            {
                tracing::warn!("QUIC: the acceptor failed; no more streams are served");
                break;
            }
            let engine = &self.inner.engine;
            if !engine.admit(&remote) {
                if let NewIo::Stream(io) = io {
                    let mut io: BoxIo = Box::pin(io);
                    io.as_mut().abort(&Error::limit(ErrorCode::INTERNAL));
                }
                continue;
            }
            // The Tendril is in the table now; whether the acceptor took it is its own.
            match io {
                NewIo::Stream(io) => {
                    let io: BoxIo = Box::pin(io);
                    let _ = engine.serve(io, local.clone(), remote, framers(), &mut acceptor);
                    self.inner.counters.streams.fetch_add(1, Ordering::Relaxed);
                }
                NewIo::Datagrams(datagrams) => {
                    let ready = std::future::ready(Ok::<_, std::convert::Infallible>(datagrams));
                    let _ = engine.serve_datagrams(
                        ready,
                        local.clone(),
                        remote,
                        framers(),
                        &mut acceptor,
                    );
                }
            }
        }
    }
}

fn counters_of(manager: &QuicManager) -> &Counters {
    &manager.inner.counters
}

/// What the TLS session of `connection` tells: ALPN, server name, peer certificates.
fn tls_info(connection: &Connection) -> TlsInfo {
    let mut info = TlsInfo::default();
    if let Some(data) = connection
        .handshake_data()
        .and_then(|data| data.downcast::<HandshakeData>().ok())
    {
        info.alpn_protocol = data.protocol.map(Bytes::from);
        info.server_name = data.server_name;
    }
    if let Some(certificates) = connection.peer_identity().and_then(|identity| {
        identity
            .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
            .ok()
    }) {
        info.peer_certificates = certificates
            .iter()
            .map(|certificate| Bytes::copy_from_slice(certificate))
            .collect();
    }
    info.protocol_version = Some("TLSv1_3");
    info
}

impl Manager for QuicManager {
    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn shutdown(&self) {
        self.inner.engine.shutdown();
        self.close_endpoint();
    }

    fn transport_metrics(&self) -> Vec<TransportMetric> {
        let stats = self.quic_stats();
        vec![
            TransportMetric::gauge(
                "tendril_quic_connections",
                "QUIC connections open.",
                stats.connections as u64,
            ),
            TransportMetric::gauge(
                "tendril_quic_handshakes",
                "QUIC handshakes in progress.",
                stats.handshakes as u64,
            ),
            TransportMetric::counter(
                "tendril_quic_accepted_total",
                "QUIC connections whose handshake completed.",
                stats.accepted,
            ),
            TransportMetric::counter(
                "tendril_quic_refused_total",
                "QUIC connection attempts refused (too many connections or handshakes).",
                stats.refused,
            ),
            TransportMetric::counter(
                "tendril_quic_retries_total",
                "QUIC connection attempts sent a Retry to prove their address.",
                stats.retried,
            ),
            TransportMetric::counter(
                "tendril_quic_handshake_failures_total",
                "QUIC handshakes that failed or timed out.",
                stats.handshake_failures,
            ),
            TransportMetric::counter(
                "tendril_quic_streams_total",
                "QUIC streams served.",
                stats.streams,
            ),
        ]
    }

    fn graceful_shutdown(&self, deadline: Duration) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let manager = self.clone();
        Box::pin(async move {
            let finished = manager.inner.engine.graceful_shutdown(deadline).await;
            manager.close_endpoint();
            finished
        })
    }
}

/// Where to connect: the peer's address and the name its certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuicTarget {
    /// The peer's address.
    pub addr: SocketAddr,
    /// The server name (SNI, and what its certificate is checked against).
    pub server_name: String,
}

impl QuicTarget {
    /// The server at `addr`, with certificate name `server_name`.
    pub fn new(addr: SocketAddr, server_name: impl Into<String>) -> Self {
        QuicTarget {
            addr,
            server_name: server_name.into(),
        }
    }
}

impl QuicManager {
    /// A new QUIC connection to `target` (TLS from [`Quic::client_tls`]).
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] without client TLS; the handshake's failure
    /// ([`Error::connect`]).
    pub async fn connect_connection(&self, target: &QuicTarget) -> Result<Connection, Error> {
        let Some(client) = self.inner.options.client_config() else {
            return Err(Error::config("a QUIC client needs Quic::client_tls"));
        };
        let endpoint = self.bind(None)?;
        let failed = |err: io::Error| Error::connect(format_args!("quic {}", target.addr), err);
        let connecting = endpoint
            .connect_with(client, target.addr, &target.server_name)
            .map_err(|err| failed(io::Error::other(err)))?;
        let timeout = self.inner.options.handshake_timeout;
        let connection = match tokio::time::timeout(timeout, connecting).await {
            Ok(connected) => connected.map_err(|err| failed(io::Error::other(err)))?,
            Err(_) => return Err(failed(io::Error::from(io::ErrorKind::TimedOut))),
        };
        self.connections()
            .insert(connection.stable_id() as u64, connection.clone());
        Ok(connection)
    }

    /// Opens a bidirectional stream on `connection` and serves it as a Tendril with
    /// `acceptor` and `framers`: a client's request stream, or a server's push.
    ///
    /// # Errors
    ///
    /// The stream's opening failure (the connection closed: [`Error::is_closed`]);
    /// the acceptor's refusal.
    pub async fn open_stream<A, In, Out>(
        &self,
        connection: &Connection,
        acceptor: A,
        framers: FramerSwitch<In, Out>,
    ) -> Result<Tendril<In, Out>, Error>
    where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let (send, recv) = connection.open_bi().await.map_err(Error::closed_by)?;
        let peer = connection.remote_address();
        let remote = Addr::Stream {
            peer,
            connection: connection.stable_id() as u64,
            stream: u64::from(send.id()),
        };
        let io = QuicStream::new(send, recv, tls_info(connection), peer);
        let engine = &self.inner.engine;
        let local = engine
            .local()
            .cloned()
            .unwrap_or_else(|| Addr::Inet(self.inner.options.addr));
        let tendril = engine
            .connect(io, local, remote, framers, acceptor, NoWrapper)
            .await?;
        self.inner.counters.streams.fetch_add(1, Ordering::Relaxed);
        Ok(tendril)
    }
}

impl Connect<NoWrapper> for QuicManager {
    type Target = QuicTarget;

    fn connect_with_framers<A, In, Out>(
        &self,
        target: QuicTarget,
        acceptor: A,
        _wrapper: NoWrapper,
        framers: FramerSwitch<In, Out>,
    ) -> impl Future<Output = Result<Tendril<In, Out>, Error>> + Send + 'static
    where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let manager = self.clone();
        async move {
            let connection = manager.connect_connection(&target).await?;
            manager.open_stream(&connection, acceptor, framers).await
        }
    }
}
