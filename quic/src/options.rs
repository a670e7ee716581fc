//! [`Quic`]: a QUIC endpoint's own settings (its address, TLS and bounds).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use tendril_net::Error;

/// A QUIC endpoint's settings: its address, its TLS (QUIC always carries TLS 1.3),
/// and its bounds. Streams are bounded by the manager's [`Builder`](tendril_net::manager::Builder) as connections of
/// any transport are (`max_connections` there counts streams, the memory budget
/// covers them all).
#[derive(Clone)]
pub struct Quic {
    pub(crate) addr: SocketAddr,
    /// A socket bound by someone else (systemd), used instead of binding.
    pub(crate) adopted: Option<Arc<std::net::UdpSocket>>,
    pub(crate) reuse_port: bool,
    pub(crate) server: Option<Arc<QuicServerConfig>>,
    pub(crate) client: Option<Arc<QuicClientConfig>>,
    pub(crate) max_connections: usize,
    pub(crate) max_handshakes: usize,
    pub(crate) retry_above: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_streams: u32,
    pub(crate) uni_streams: u32,
    pub(crate) datagrams: bool,
    pub(crate) idle_timeout: Duration,
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
    pub(crate) fn socket(&self) -> io::Result<std::net::UdpSocket> {
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

    pub(crate) fn transport(&self) -> Arc<TransportConfig> {
        let mut transport = TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(self.uni_streams))
            .datagram_receive_buffer_size(self.datagrams.then_some(64 * 1024))
            .max_idle_timeout(IdleTimeout::try_from(self.idle_timeout).ok());
        Arc::new(transport)
    }

    pub(crate) fn server_config(&self) -> Option<quinn::ServerConfig> {
        let crypto = self.server.clone()?;
        let mut config = quinn::ServerConfig::with_crypto(crypto);
        config.transport_config(self.transport());
        Some(config)
    }

    pub(crate) fn client_config(&self) -> Option<quinn::ClientConfig> {
        let crypto = self.client.clone()?;
        let mut config = quinn::ClientConfig::new(crypto);
        config.transport_config(self.transport());
        Some(config)
    }
}
