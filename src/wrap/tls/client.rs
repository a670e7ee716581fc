//! The TLS client wrapper.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;
use tower::{Layer, Service};

use super::handshakes::{Handshakes, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HANDSHAKES};
use super::session_info;
use crate::error::{BoxError, Error};
use crate::wrap::{Io, NoWrapper, TlsInfo};

/// Starts TLS (the client side of the handshake) on a connection, verifying the server
/// as `server_name`: the layer of [`TlsClient`], holding its settings.
///
/// The name is sent as SNI unless turned off, and is always the name the server's
/// certificate must be valid for. Handshake timeout 10 s and cap 256 by default, as
/// for [`TlsServerLayer`](crate::wrap::TlsServerLayer).
#[derive(Clone)]
pub struct TlsClientLayer {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    timeout: Duration,
    max_handshakes: usize,
}

impl fmt::Debug for TlsClientLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClientLayer")
            .field("server_name", &self.server_name)
            .field("alpn_protocols", &self.config.alpn_protocols)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TlsClientLayer {
    /// TLS with `config` (see [`tls_client_config`](crate::wrap::tls_client_config))
    /// to a server that must prove it is `server_name` (a DNS name or an IP address).
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] if `server_name` is neither.
    pub fn new(config: impl Into<Arc<ClientConfig>>, server_name: &str) -> Result<Self, Error> {
        let server_name = ServerName::try_from(server_name)
            .map_err(Error::config)?
            .to_owned();
        Ok(TlsClientLayer {
            config: config.into(),
            server_name,
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
        })
    }

    /// The longest a handshake may take (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Handshakes in progress at once per wrapper (default 256); with all of them
    /// taken, the next connect waits for one (outgoing handshakes are never shed).
    pub fn max_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = max.max(1);
        self
    }

    /// Whether to send the server name as SNI (default: as the config says, on).
    pub fn sni(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.config).enable_sni = on;
        self
    }

    /// The ALPN protocols to offer, most preferred first (replaces the config's).
    pub fn alpn_protocols<P: Into<Vec<u8>>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> Self {
        Arc::make_mut(&mut self.config).alpn_protocols =
            protocols.into_iter().map(Into::into).collect();
        self
    }
}

impl<S> Layer<S> for TlsClientLayer {
    type Service = TlsClient<S>;

    fn layer(&self, inner: S) -> TlsClient<S> {
        TlsClient {
            connector: TlsConnector::from(self.config.clone()),
            server_name: self.server_name.clone(),
            handshakes: Handshakes::new(self.max_handshakes, self.timeout),
            inner,
        }
    }
}

/// The TLS client wrapper: completes the client side of a handshake on the I/O
/// object, then calls `S` with the TLS stream.
pub struct TlsClient<S = NoWrapper> {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    handshakes: Handshakes,
    inner: S,
}

impl TlsClient {
    /// TLS with `config` to `server_name`, with the defaults of [`TlsClientLayer`].
    ///
    /// # Errors
    ///
    /// As [`TlsClientLayer::new`].
    pub fn new(config: impl Into<Arc<ClientConfig>>, server_name: &str) -> Result<Self, Error> {
        Ok(TlsClientLayer::new(config, server_name)?.layer(NoWrapper))
    }
}

impl<S> TlsClient<S> {
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

impl<S: Clone> Clone for TlsClient<S> {
    fn clone(&self) -> Self {
        TlsClient {
            connector: self.connector.clone(),
            server_name: self.server_name.clone(),
            handshakes: self.handshakes.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for TlsClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<IO, S> Service<IO> for TlsClient<S>
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
        let handshake = self.connector.connect(self.server_name.clone(), io);
        // This side's own handshakes are never shed: a full set makes the next wait.
        self.handshakes
            .run(handshake, None, self.inner.clone())
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
        Some(session_info(self.get_ref().1))
    }
}
