//! [`QuicManager`]: a tendril-net manager whose connections are QUIC streams, built
//! on the engine's public API as any plug-in transport is.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use quinn::{Connection, Endpoint, EndpointConfig, VarInt};
use tendril_net::app::Acceptor;
use tendril_net::framer::FramerSwitch;
use tendril_net::manager::{Bounds, BuildManager, Builder, Engine, TransportMetric};
use tendril_net::wrap::NoWrapper;
use tendril_net::{Addr, Connect, ConnectionConfig, Error, Manager, StreamAddr, Tendril};
use tokio::sync::mpsc;

use crate::options::Quic;
use crate::stats::{Counters, QuicStats};
use crate::stream::{tls_info, QuicStream};

/// New streams handed from the connections to the one task holding the acceptor: a
/// full queue holds the connections' stream accepts back (the peer's streams then
/// wait in QUIC flow control).
const STREAM_QUEUE: usize = 256;
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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) options: Quic,
    pub(crate) endpoint: OnceLock<Endpoint>,
    /// The live QUIC connections, by their stable id.
    pub(crate) connections: Mutex<HashMap<u64, Connection>>,
    pub(crate) handshakes: AtomicUsize,
    pub(crate) counters: Counters,
}
impl fmt::Debug for QuicManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicManager")
            .field("options", &self.inner.options)
            .field("stats", &self.quic_stats())
            .finish_non_exhaustive()
    }
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

    pub(crate) fn connections(&self) -> MutexGuard<'_, HashMap<u64, Connection>> {
        // Plain data: a panic elsewhere leaves it consistent.
        self.inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live QUIC connection with stable id `id` (a stream's
    /// [`StreamAddr::connection`](tendril_net::StreamAddr::connection)): to open a stream of
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
    /// Closes every QUIC connection with code 0 once the engine's streams are done.
    fn close_endpoint(&self) {
        if let Some(endpoint) = self.inner.endpoint.get() {
            endpoint.close(VarInt::from_u32(0), b"shutdown");
        }
    }
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
        let remote = Addr::from(StreamAddr {
            peer,
            connection: connection.stable_id() as u64,
            stream: u64::from(send.id()),
        });
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
