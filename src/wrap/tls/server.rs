//! [`TlsServer`]: the server side of a TLS handshake, as a wrapper.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::server::Acceptor;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;
use tower::Service;

use super::config::session_info;
use super::error::FAILURES;
use super::reload::TlsConfigHandle;
use crate::error::BoxError;
use crate::wrap::handshakes::Handshakes;
use crate::wrap::{Io, NoWrapper, ProxyHeader, ResponseFuture, TlsInfo};

/// The TLS server wrapper: completes the server side of a handshake on the I/O object,
/// then calls `S` with the TLS stream. Clones share the handshake slots. Usually built
/// by [`TlsServerLayer`](super::TlsServerLayer) (`layer.layer(inner)`), which holds its
/// settings.
#[derive(Debug, Clone)]
pub struct TlsServer<S = NoWrapper> {
    config: TlsConfigHandle,
    handshakes: Handshakes,
    inner: S,
}

impl<S> TlsServer<S> {
    /// TLS with `config` in front of `inner`: at most `max_handshakes` at once (a new
    /// set of slots), each within `handshake_timeout`. `config` is a fixed
    /// configuration, or a layer's [`TlsConfigHandle`] to follow its reloads.
    pub fn new(
        inner: S,
        config: impl Into<TlsConfigHandle>,
        handshake_timeout: Duration,
        max_handshakes: usize,
    ) -> Self {
        TlsServer {
            handshakes: Handshakes::new(max_handshakes, handshake_timeout, FAILURES),
            config: config.into(),
            inner,
        }
    }

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

impl<IO, S> Service<IO> for TlsServer<S>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<TlsStream<IO>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.handshakes.poll_ready(cx)
    }

    fn call(&mut self, io: IO) -> Self::Future {
        // In two steps, so that a handshake still waiting for its ClientHello is
        // known (the first to be shed under a flood).
        let hello = Arc::new(AtomicBool::new(false));
        // The configuration set last: a reload applies from this handshake on.
        let config = self.config.current();
        let arrived = hello.clone();
        let handshake = async move {
            let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
            arrived.store(true, Ordering::Relaxed);
            start.into_stream(config).await
        };
        ResponseFuture::new(
            self.handshakes
                .run(handshake, Some(hello), self.inner.clone()),
        )
    }
}

impl<IO> Io for TlsStream<IO>
where
    IO: Io + Unpin,
{
    fn proxy_header(&self) -> Option<&ProxyHeader> {
        self.get_ref().0.proxy_header()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        let session = self.get_ref().1;
        let mut info = session_info(session);
        info.server_name = session.server_name().map(str::to_owned);
        Some(info)
    }
}
