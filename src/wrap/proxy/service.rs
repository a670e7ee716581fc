//! [`ProxyProtocol`]: the PROXY protocol wrapper.

use std::task::{Context, Poll};

use tower::Service;

use std::time::Duration;

use super::error::ProxyError;
use super::parse::{read_header, MIN_HEADER_BOUND};
use super::stream::ProxyStream;
use crate::error::BoxError;
use crate::wrap::{take_ready, Io, ResponseFuture};

/// The wrapper of [`ProxyProtocolLayer`](super::ProxyProtocolLayer): reads the header, then calls `S` with the
/// stream behind it ([`ProxyStream`]).
#[derive(Debug, Clone)]
pub struct ProxyProtocol<S> {
    inner: S,
    header_timeout: Duration,
    max_header_length: usize,
    optional: bool,
}

impl<S> ProxyProtocol<S> {
    /// Reads a header of at most `max_header_length` bytes (never less than 232, the
    /// longest header without TLVs) within `header_timeout`, then calls `inner`; an
    /// `optional` header lets streams that do not start like one through.
    pub fn new(
        inner: S,
        header_timeout: Duration,
        max_header_length: usize,
        optional: bool,
    ) -> Self {
        ProxyProtocol {
            inner,
            header_timeout,
            max_header_length: max_header_length.max(MIN_HEADER_BOUND),
            optional,
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
        // The next wrapper's readiness (a TLS handshake slot) is this one's.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, io: I) -> Self::Future {
        let (timeout, max, optional) = (self.header_timeout, self.max_header_length, self.optional);
        let mut inner = take_ready(&mut self.inner);
        ResponseFuture::new(async move {
            let stream = tokio::time::timeout(timeout, read_header(io, max, optional))
                .await
                .map_err(|_| ProxyError::Timeout(timeout))??;
            inner.call(stream).await.map_err(Into::into)
        })
    }
}
