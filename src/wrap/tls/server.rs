//! The TLS server wrapper.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::server::Acceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;
use tower::{Layer, Service};

use super::handshakes::{Handshakes, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HANDSHAKES};
use super::session_info;
use crate::error::BoxError;
use crate::wrap::{Io, NoWrapper, TlsInfo};

/// Accepts TLS (the server side of the handshake) on each connection: the layer of
/// [`TlsServer`], holding its settings.
///
/// The handshake must finish within the timeout (default 10 s), and at most
/// `max_handshakes` (default 256) run at once per wrapper built from this layer (and
/// its clones, so a live upgrade shares them too). When every slot is taken, the
/// handshake that has waited longest for its ClientHello is shed
/// ([`HandshakeShed`](crate::wrap::HandshakeShed)) and the newcomer takes its slot, so
/// a flood of silent clients neither holds the slots nor stops the accept loop; a
/// handshake past its ClientHello is shed only after a second. Only if none can be shed
/// does the accepted connection wait for a slot (and the next ones in the backlog).
#[derive(Clone)]
pub struct TlsServerLayer {
    config: Arc<ServerConfig>,
    timeout: Duration,
    max_handshakes: usize,
}

impl fmt::Debug for TlsServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerLayer")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .field("timeout", &self.timeout)
            .field("max_handshakes", &self.max_handshakes)
            .finish_non_exhaustive()
    }
}

impl TlsServerLayer {
    /// TLS with `config` (see [`tls_server_config`](crate::wrap::tls_server_config)),
    /// default timeout and cap.
    pub fn new(config: impl Into<Arc<ServerConfig>>) -> Self {
        TlsServerLayer {
            config: config.into(),
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
        }
    }

    /// The longest a handshake may take (default 10 s); then the connection closes
    /// with [`HandshakeTimeout`](crate::wrap::HandshakeTimeout).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Handshakes in progress at once (default 256).
    pub fn max_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = max.max(1);
        self
    }

    /// The ALPN protocols offered, most preferred first (replaces the config's).
    pub fn alpn_protocols<P: Into<Vec<u8>>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> Self {
        Arc::make_mut(&mut self.config).alpn_protocols =
            protocols.into_iter().map(Into::into).collect();
        self
    }
}

impl<S> Layer<S> for TlsServerLayer {
    type Service = TlsServer<S>;

    fn layer(&self, inner: S) -> TlsServer<S> {
        TlsServer {
            config: self.config.clone(),
            handshakes: Handshakes::new(self.max_handshakes, self.timeout),
            inner,
        }
    }
}

/// The TLS server wrapper: completes the server side of a handshake on the I/O object,
/// then calls `S` with the TLS stream. Clones share the handshake cap.
pub struct TlsServer<S = NoWrapper> {
    config: Arc<ServerConfig>,
    handshakes: Handshakes,
    inner: S,
}

impl TlsServer {
    /// TLS with `config` and the defaults of [`TlsServerLayer`]; for a live upgrade
    /// ([`Tendril::wrap`](crate::Tendril::wrap)) or the last wrapper of a chain.
    pub fn new(config: impl Into<Arc<ServerConfig>>) -> Self {
        TlsServerLayer::new(config).layer(NoWrapper)
    }
}

impl<S> TlsServer<S> {
    /// The wrapper applied after the handshake.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapper applied after the handshake, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapper applied after the handshake.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for TlsServer<S> {
    fn clone(&self) -> Self {
        TlsServer {
            config: self.config.clone(),
            handshakes: self.handshakes.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for TlsServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<IO, S> Service<IO> for TlsServer<S>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<TlsStream<IO>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.handshakes.poll_ready(cx)
    }

    fn call(&mut self, io: IO) -> Self::Future {
        // In two steps, so that a handshake still waiting for its ClientHello is
        // known (the first to be shed under a flood).
        let hello = Arc::new(AtomicBool::new(false));
        let config = self.config.clone();
        let arrived = hello.clone();
        let handshake = async move {
            let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
            arrived.store(true, Ordering::Relaxed);
            start.into_stream(config).await
        };
        self.handshakes
            .run(handshake, Some(hello), self.inner.clone())
            .boxed()
    }
}

impl<IO> Io for TlsStream<IO>
where
    IO: Io + Unpin,
{
    fn proxy_header(&self) -> Option<&crate::wrap::ProxyHeader> {
        self.get_ref().0.proxy_header()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        let session = self.get_ref().1;
        let mut info = session_info(session);
        info.server_name = session.server_name().map(str::to_owned);
        Some(info)
    }
}
