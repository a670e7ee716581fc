//! [`ProxyProtocolLayer`]: the PROXY protocol wrapper's settings.

use std::time::Duration;

use tower::Layer;

use super::parse::MIN_HEADER_BOUND;
use super::service::ProxyProtocol;

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
/// Bounds: the header must arrive within 5 s ([`header_timeout`](Self::header_timeout))
/// and be at most 4 KiB with its TLVs ([`max_header_length`](Self::max_header_length)). A stream
/// without a valid header is refused: the wrapper fails with a [`ProxyError`](super::ProxyError), so the
/// connection is closed before the acceptor sees it, counted in `Stats::wrap_failed`
/// and logged. With [`optional(true)`](Self::optional) a stream that does not start
/// like a header (neither `PROXY ` nor the v2 signature) passes as it is; use that only
/// where direct clients are allowed, since a client can then claim any address by
/// sending a header itself.
///
/// ```
/// use tendril_net::wrap::{ProxyProtocolLayer, SocketOptionsLayer, WrapperChain};
///
/// // Behind a load balancer that sends PROXY v2: the header first, then TLS if any.
/// let wrapper = WrapperChain::new()
///     .layer(SocketOptionsLayer::new().nodelay(true))
///     .layer(ProxyProtocolLayer::new());
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
        }
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
        ProxyProtocol::new(inner, self.timeout, self.max_header_length, self.optional)
    }
}
