//! [`ProxyProtocolLayer`]: the PROXY protocol wrapper's settings.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tower::Layer;

use super::parse::MIN_HEADER_BOUND;
use super::service::ProxyProtocol;
use crate::wrap::handshakes::DEFAULT_MAX_HANDSHAKES;

/// A layer reading the PROXY protocol header (v1 text or v2 binary, whichever comes)
/// at the start of each stream, before the wrappers after it (TLS) see the stream
/// (feature `proxy-protocol`).
///
/// The header's addresses become the connection's: [`Tendril::remote`] is the
/// client's, [`Tendril::local`] the address the client connected to, and
/// [`Tendril::proxy`] gives the header with its v2 TLVs (ALPN, authority, SSL). A
/// `LOCAL` header (a load balancer's health check) keeps the socket's addresses. The
/// bytes after the header reach the framer untouched.
///
/// Who may send one: by default anyone who reaches the port (so the port must be
/// reachable from the load balancers only); with [`trusted`](Self::trusted), the
/// listed networks only. A connection from elsewhere is refused at once when the
/// header is required, and with [`optional(true)`](Self::optional) is served with
/// its socket's addresses: a header it sends is read (the application does not see
/// it) and ignored, counted in `Stats::proxy_ignored`.
///
/// Bounds: the header must arrive within 5 s ([`header_timeout`](Self::header_timeout))
/// and be at most 4 KiB with its TLVs ([`max_header_length`](Self::max_header_length));
/// a v2 header announcing more, or a v1 line holding a byte no header holds (a line
/// feed without its carriage return), is refused as soon as it is seen. At most 256
/// connections wait for their header at once ([`max_pending`](Self::max_pending)):
/// with every slot taken, the wait that has gone longest without a byte is shed for
/// the newcomer (one past its first byte once it has waited a second), as silent
/// TLS handshakes are, counted in `Stats::shed_handshakes`. A stream without a valid
/// header is refused: the wrapper fails with a [`ProxyError`](super::ProxyError), so the
/// connection is closed before the acceptor sees it, counted in `Stats::wrap_failed`
/// and logged. With [`optional(true)`](Self::optional) a stream that does not start
/// like a header (neither `PROXY ` nor the v2 signature) passes as it is; without a
/// [`trusted`](Self::trusted) list, use that only where direct clients are allowed,
/// since a client can then claim any address by sending a header itself.
///
/// ```
/// use tendril_net::wrap::{ProxyProtocolLayer, SocketOptionsLayer, WrapperChain};
///
/// // Behind load balancers in 10.0.0.0/24 that send PROXY v2: the header first, then
/// // TLS if any.
/// let balancers = ["10.0.0.0/24".parse().unwrap()];
/// let wrapper = WrapperChain::new()
///     .layer(SocketOptionsLayer::new().nodelay(true))
///     .layer(ProxyProtocolLayer::new().trusted(balancers));
/// # let _ = wrapper;
/// ```
///
/// [`Tendril::remote`]: crate::Tendril::remote
/// [`Tendril::local`]: crate::Tendril::local
/// [`Tendril::proxy`]: crate::Tendril::proxy
#[derive(Debug, Clone)]
pub struct ProxyProtocolLayer {
    timeout: Duration,
    max_header_length: usize,
    optional: bool,
    trusted: Option<Arc<[IpNet]>>,
    max_pending: usize,
}

impl Default for ProxyProtocolLayer {
    fn default() -> Self {
        ProxyProtocolLayer::new()
    }
}

impl ProxyProtocolLayer {
    /// A required header, 5 s to arrive, at most 4 KiB.
    pub fn new() -> Self {
        ProxyProtocolLayer {
            timeout: Duration::from_secs(5),
            max_header_length: 4096,
            optional: false,
            trusted: None,
            max_pending: DEFAULT_MAX_HANDSHAKES,
        }
    }

    /// Only peers in these networks may send a header (default: any peer). IPv4
    /// peers on an IPv6 socket (`::ffff:a.b.c.d`) are matched as IPv4.
    pub fn trusted(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted = Some(networks.into_iter().collect());
        self
    }

    /// Connections waiting for their header at once (default 256).
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = max.max(1);
        self
    }

    /// How long the header may take to arrive (default 5 s).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest header accepted, TLVs included (default 4096 bytes; never less
    /// than 232, the longest header without TLVs).
    pub fn max_header_length(mut self, bytes: usize) -> Self {
        self.max_header_length = bytes.max(MIN_HEADER_BOUND);
        self
    }

    /// Let streams without a header through (default false: they are refused).
    pub fn optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }
}

impl<S> Layer<S> for ProxyProtocolLayer {
    type Service = ProxyProtocol<S>;

    fn layer(&self, inner: S) -> ProxyProtocol<S> {
        ProxyProtocol::new(
            inner,
            self.timeout,
            self.max_header_length,
            self.optional,
            self.trusted.clone(),
            self.max_pending,
        )
    }
}
