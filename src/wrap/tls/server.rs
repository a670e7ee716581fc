//! [`TlsServer`]: the server side of a TLS handshake, as a wrapper.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert, UnbufferedServerConnection};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tower::Service;

use super::error::FAILURES;
use super::reload::TlsConfigHandle;
use super::session::invalid;
use super::stream::TlsStream;
use crate::error::BoxError;
use crate::wrap::handshakes::Handshakes;
use crate::wrap::{NoWrapper, ResponseFuture};

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
        // The ClientHello's arrival is known (the first to be shed under a flood are
        // the handshakes still waiting for theirs), and its server name kept.
        let hello = Hello::default();
        let arrived = hello.arrived.clone();
        // The configuration set last: a reload applies from this handshake on.
        let config = self.config.current();
        let handshake = async move {
            let hello = Arc::new(hello);
            let mut config = ServerConfig::clone(&config);
            config.cert_resolver = Arc::new(Observed {
                resolver: config.cert_resolver.clone(),
                hello: hello.clone(),
            });
            let conn = UnbufferedServerConnection::new(Arc::new(config)).map_err(invalid)?;
            let mut stream = TlsStream::server(io, conn).handshake().await?;
            stream.set_server_name(hello.server_name.get().cloned());
            Ok::<_, std::io::Error>(stream)
        };
        ResponseFuture::new(
            self.handshakes
                .run(handshake, Some(arrived), self.inner.clone()),
        )
    }
}

/// What a handshake's ClientHello told.
#[derive(Debug, Default)]
struct Hello {
    arrived: Arc<AtomicBool>,
    server_name: OnceLock<Box<str>>,
}

/// The configured certificate resolver, seeing each ClientHello first: rustls's
/// unbuffered server connection tells neither when it came nor the name it asked for.
#[derive(Debug)]
struct Observed {
    resolver: Arc<dyn ResolvesServerCert>,
    hello: Arc<Hello>,
}

impl ResolvesServerCert for Observed {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.hello.arrived.store(true, Ordering::Relaxed);
        if let Some(name) = client_hello.server_name() {
            let _ = self.hello.server_name.set(name.into());
        }
        self.resolver.resolve(client_hello)
    }

    fn only_raw_public_keys(&self) -> bool {
        self.resolver.only_raw_public_keys()
    }
}
