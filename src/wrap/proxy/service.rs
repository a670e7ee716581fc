//! [`ProxyProtocol`]: the PROXY protocol wrapper.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ipnet::IpNet;
use tower::Service;

use super::error::ProxyError;
use super::parse::{read_header, MIN_HEADER_BOUND};
use super::stream::ProxyStream;
use crate::error::BoxError;
use crate::wrap::handshakes::{Failures, Handshakes};
use crate::wrap::{take_ready, Io, ResponseFuture};

/// What a shed or late header wait says.
const FAILURES: Failures = Failures {
    shed: || ProxyError::Shed.into(),
    timeout: |after| ProxyError::Timeout(after).into(),
};

/// The wrapper of [`ProxyProtocolLayer`](super::ProxyProtocolLayer): reads the header, then calls `S` with the
/// stream behind it ([`ProxyStream`]).
#[derive(Debug, Clone)]
pub struct ProxyProtocol<S> {
    inner: S,
    max_header_length: usize,
    optional: bool,
    /// The networks whose headers are believed (`None`: any).
    trusted: Option<Arc<[IpNet]>>,
    /// The header waits in progress (their slots, timeout and shedding).
    waits: Handshakes,
}

impl<S> ProxyProtocol<S> {
    /// Reads a header of at most `max_header_length` bytes (never less than 232, the
    /// longest header without TLVs) within `header_timeout`, at most `max_pending`
    /// at once, then calls `inner`; an `optional` header lets streams that do not
    /// start like one through; with `trusted` networks, only peers in them may send
    /// one (see [`ProxyProtocolLayer::trusted`](super::ProxyProtocolLayer::trusted)).
    pub fn new(
        inner: S,
        header_timeout: Duration,
        max_header_length: usize,
        optional: bool,
        trusted: Option<Arc<[IpNet]>>,
        max_pending: usize,
    ) -> Self {
        ProxyProtocol {
            inner,
            max_header_length: max_header_length.max(MIN_HEADER_BOUND),
            optional,
            trusted,
            waits: Handshakes::new(max_pending, header_timeout, FAILURES),
        }
    }

    /// The wrapper applied after the header.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapper applied after the header, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapper applied after the header.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// True if a header from `peer` may be believed.
    fn trusts(&self, peer: Option<SocketAddr>) -> bool {
        let Some(trusted) = &self.trusted else {
            return true;
        };
        peer.is_some_and(|peer| {
            let ip = peer.ip().to_canonical();
            trusted.iter().any(|net| net.contains(&ip))
        })
    }
}

impl<S, I> Service<I> for ProxyProtocol<S>
where
    I: Io + Unpin,
    S: Service<ProxyStream<I>> + Clone + Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // A wait slot (shedding a silent wait when all are taken), then the next
        // wrapper's readiness (a TLS handshake slot).
        if self.waits.poll_ready(cx)?.is_pending() {
            return Poll::Pending;
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, io: I) -> Self::Future {
        let (max, optional) = (self.max_header_length, self.optional);
        let peer = io.peer_addr();
        let trusted = self.trusts(peer);
        let began = Arc::new(AtomicBool::new(false));
        let reading = {
            let began = began.clone();
            async move {
                if !trusted && !optional {
                    return Err(ProxyError::Untrusted(peer));
                }
                let stream = read_header(io, max, optional, &began).await?;
                // From elsewhere, a header is read (the application must not see
                // it) but not believed: the socket's addresses stand.
                Ok(if trusted { stream } else { stream.untrusted() })
            }
        };
        let inner = take_ready(&mut self.inner);
        ResponseFuture::new(self.waits.run(reading, Some(began), inner))
    }
}
