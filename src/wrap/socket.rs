//! Socket options as a wrapper.

use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;
use tower::{Layer, Service};

use super::ResponseFuture;
use crate::error::BoxError;

/// Sets TCP socket options on each connection, then hands the same socket on.
///
/// Every option is left as the system (or the manager) set it unless given here.
/// Listener options (backlog, address reuse) are the manager builder's business.
///
/// ```
/// use std::time::Duration;
/// use tendril_net::wrap::{SocketOptionsLayer, WrapperChain};
///
/// let options = SocketOptionsLayer::new()
///     .nodelay(true)
///     .keepalive(Some(Duration::from_secs(60)))
///     .keepalive_interval(Duration::from_secs(10))
///     .recv_buffer_size(256 * 1024);
/// // Pass `wrapper` to `TcpManager::start` or `connect`.
/// let wrapper = WrapperChain::new().layer(options);
/// # fn is_wrapper<W: tendril_net::wrap::Wrapper<tokio::net::TcpStream>>(_: &W) {}
/// # is_wrapper(&wrapper);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SocketOptionsLayer {
    nodelay: Option<bool>,
    keepalive: Option<Option<Duration>>,
    keepalive_interval: Option<Duration>,
    send_buffer_size: Option<usize>,
    recv_buffer_size: Option<usize>,
    linger: Option<Option<Duration>>,
    ttl: Option<u32>,
}

impl SocketOptionsLayer {
    /// No option set.
    pub fn new() -> Self {
        SocketOptionsLayer::default()
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = Some(on);
        self
    }

    /// `SO_KEEPALIVE`: `Some(idle)` sends probes after `idle` without traffic, `None`
    /// turns keepalive off.
    pub fn keepalive(mut self, idle: Option<Duration>) -> Self {
        self.keepalive = Some(idle);
        self
    }

    /// Time between keepalive probes (where the system supports it; with keepalive on).
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = Some(interval);
        self
    }

    /// `SO_SNDBUF` in bytes (the kernel may round or double it).
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.send_buffer_size = Some(bytes);
        self
    }

    /// `SO_RCVBUF` in bytes (the kernel may round or double it).
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.recv_buffer_size = Some(bytes);
        self
    }

    /// `SO_LINGER`: `Some(time)` makes close wait up to `time` for unsent data
    /// (`Some(Duration::ZERO)` resets the connection on close), `None` is the default
    /// background close.
    pub fn linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = Some(linger);
        self
    }

    /// The IP time to live (IPv4) or unicast hop limit (IPv6) of outgoing packets.
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Applies the options to `stream`.
    ///
    /// # Errors
    ///
    /// The first option the system refused.
    pub fn apply(&self, stream: &TcpStream) -> std::io::Result<()> {
        let socket = SockRef::from(stream);
        if let Some(on) = self.nodelay {
            socket.set_tcp_nodelay(on)?;
        }
        match self.keepalive {
            Some(Some(idle)) => {
                let params = TcpKeepalive::new().with_time(idle);
                #[cfg(any(
                    target_os = "linux",
                    target_os = "android",
                    target_os = "macos",
                    target_os = "ios",
                    target_os = "freebsd",
                    target_os = "netbsd",
                    target_os = "windows",
                ))]
                let params = match self.keepalive_interval {
                    Some(interval) => params.with_interval(interval),
                    None => params,
                };
                socket.set_tcp_keepalive(&params)?;
            }
            Some(None) => socket.set_keepalive(false)?,
            None => {}
        }
        if let Some(bytes) = self.send_buffer_size {
            socket.set_send_buffer_size(bytes)?;
        }
        if let Some(bytes) = self.recv_buffer_size {
            socket.set_recv_buffer_size(bytes)?;
        }
        if let Some(linger) = self.linger {
            socket.set_linger(linger)?;
        }
        if let Some(ttl) = self.ttl {
            if stream.local_addr()?.is_ipv4() {
                socket.set_ttl_v4(ttl)?;
            } else {
                socket.set_unicast_hops_v6(ttl)?;
            }
        }
        Ok(())
    }
}

impl<S> Layer<S> for SocketOptionsLayer {
    type Service = SocketOptions<S>;

    fn layer(&self, inner: S) -> SocketOptions<S> {
        SocketOptions::new(inner, self.clone())
    }
}

/// The wrapper of [`SocketOptionsLayer`]: sets the options, then calls `S` with the
/// same socket.
#[derive(Debug, Clone)]
pub struct SocketOptions<S> {
    options: SocketOptionsLayer,
    inner: S,
}

impl<S> SocketOptions<S> {
    /// Sets `options`, then calls `inner`.
    pub fn new(inner: S, options: SocketOptionsLayer) -> Self {
        SocketOptions { options, inner }
    }

    /// The wrapper applied next.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapper applied next, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapper applied next.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<TcpStream> for SocketOptions<S>
where
    S: Service<TcpStream>,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, stream: TcpStream) -> Self::Future {
        let applied = self.options.apply(&stream);
        let next = applied.map(|()| self.inner.call(stream));
        ResponseFuture::new(async move { next?.await.map_err(Into::into) })
    }
}
