//! The TLS layers: the settings of a [`TlsServer`] or [`TlsClient`], and
//! `Layer::layer`, which builds one with them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tower::Layer;

use super::client::TlsClient;
use super::error::DEFAULT_HANDSHAKE_TIMEOUT;
use super::reload::TlsConfigHandle;
use super::server::TlsServer;
use crate::error::Error;
use crate::wrap::handshakes::DEFAULT_MAX_HANDSHAKES;

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
///
/// ```
/// use tendril_net::wrap::{NoWrapper, TlsServerLayer};
/// use tower::Layer;
/// # fn run(config: tendril_net::wrap::rustls::ServerConfig) {
/// // For a live upgrade (`Tendril::wrap`), or the last wrapper of a chain.
/// let tls = TlsServerLayer::new(config).alpn_protocols(["smtp"]).layer(NoWrapper);
/// # let _ = tls; }
/// # let _ = run;
/// ```
///
/// Its configuration can be replaced while the wrappers run (a renewed certificate):
/// see [`config_handle`](Self::config_handle).
#[derive(Clone)]
pub struct TlsServerLayer {
    config: TlsConfigHandle,
    timeout: Duration,
    max_handshakes: usize,
}

impl fmt::Debug for TlsServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerLayer")
            .field("alpn_protocols", &self.config.current().alpn_protocols)
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
            config: TlsConfigHandle::new(config.into()),
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
    pub fn alpn_protocols<P: Into<Vec<u8>>>(self, protocols: impl IntoIterator<Item = P>) -> Self {
        let mut config = self.config.current();
        Arc::make_mut(&mut config).alpn_protocols = protocols.into_iter().map(Into::into).collect();
        self.config.set(config);
        self
    }

    /// The configuration of every wrapper built from this layer (and its clones):
    /// setting it there changes what new handshakes use, while established
    /// connections keep theirs.
    pub fn config_handle(&self) -> TlsConfigHandle {
        self.config.clone()
    }
}

impl<S> Layer<S> for TlsServerLayer {
    type Service = TlsServer<S>;

    fn layer(&self, inner: S) -> TlsServer<S> {
        TlsServer::new(
            inner,
            self.config.clone(),
            self.timeout,
            self.max_handshakes,
        )
    }
}

/// Starts TLS (the client side of the handshake) on a connection, verifying the server
/// as `server_name`: the layer of [`TlsClient`], holding its settings.
///
/// The name is sent as SNI unless turned off, and is always the name the server's
/// certificate must be valid for. Handshake timeout 10 s and cap 256 by default, as
/// for [`TlsServerLayer`].
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
        TlsClient::new(
            inner,
            self.config.clone(),
            self.server_name.clone(),
            self.timeout,
            self.max_handshakes,
        )
    }
}
