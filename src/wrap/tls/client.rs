//! [`TlsClient`]: the client side of a TLS handshake, as a wrapper.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tower::Service;

use super::error::FAILURES;
use super::session::invalid;
use super::stream::TlsStream;
use crate::error::BoxError;
use crate::wrap::handshakes::Handshakes;
use crate::wrap::{NoWrapper, ResponseFuture};

/// The TLS client wrapper: completes the client side of a handshake on the I/O
/// object, then calls `S` with the TLS stream. Usually built by
/// [`TlsClientLayer`](super::TlsClientLayer) (`layer.layer(inner)`), which holds its
/// settings.
#[derive(Debug, Clone)]
pub struct TlsClient<S = NoWrapper> {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    handshakes: Handshakes,
    inner: S,
}

impl<S> TlsClient<S> {
    /// TLS with `config` to a server that must prove it is `server_name`, in front
    /// of `inner`: at most `max_handshakes` at once (a new set of slots, waited for
    /// when all are taken), each within `handshake_timeout`.
    pub fn new(
        inner: S,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
        handshake_timeout: Duration,
        max_handshakes: usize,
    ) -> Self {
        TlsClient {
            handshakes: Handshakes::new(max_handshakes, handshake_timeout, FAILURES),
            config,
            server_name,
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

impl<IO, S> Service<IO> for TlsClient<S>
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
        let (config, name) = (self.config.clone(), self.server_name.clone());
        let handshake = async move {
            let conn = UnbufferedClientConnection::new(config, name).map_err(invalid)?;
            TlsStream::client(io, conn).handshake().await
        };
        // This side's own handshakes are never shed: a full set makes the next wait.
        ResponseFuture::new(self.handshakes.run(handshake, None, self.inner.clone()))
    }
}
