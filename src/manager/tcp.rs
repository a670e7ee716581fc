//! TCP as a stream transport: the listener's options and how it binds, adopts and
//! dials. The manager is [`StreamManager<Tcp>`](super::StreamManager).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{Builder, Listener, StreamManager, StreamTransport};
use crate::tendril::Addr;

/// Listens, accepts and connects over TCP, and tracks every live connection: the
/// [`StreamManager`] of [`Tcp`].
///
/// ```no_run
/// use tendril_net::app::acceptor_fn;
/// use tendril_net::framer::LineFramer;
/// use tendril_net::wrap::NoWrapper;
/// use tendril_net::{BoxError, Manager, Tendril, TcpManager};
/// use tower::service_fn;
///
/// # async fn run() -> Result<(), BoxError> {
/// let manager = TcpManager::new("127.0.0.1:7000".parse()?);
/// let addr = manager.start(acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
///     tendril.set_framers(LineFramer::new(), LineFramer::new())?;
///     Ok(service_fn(|line: bytes::Bytes| async move { Ok::<_, BoxError>(line) }))
/// }), NoWrapper)?;
/// println!("listening on tcp {addr}");
/// // From the Manager trait: stop accepting, let live connections finish.
/// manager.graceful_shutdown(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// # let _ = run();
/// ```
pub type TcpManager = StreamManager<Tcp>;

/// A [`TcpManager`]'s options and bounds (see [`StreamManager::builder`]): the shared
/// connection settings of [`Builder`], and the TCP options here.
pub type TcpBuilder = Builder<Tcp>;

/// The TCP transport: the endpoint and the listener and socket options.
#[derive(Debug, Clone)]
pub struct Tcp {
    addr: SocketAddr,
    backlog: u32,
    reuse_address: bool,
    reuse_port: bool,
    nodelay: bool,
    /// A listening socket handed over ([`Tcp::adopt`]), served instead of binding
    /// `addr`.
    adopted: Option<Arc<std::net::TcpListener>>,
}

impl Builder<Tcp> {
    /// The listen backlog (default 1024).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.options.backlog = backlog;
        self
    }

    /// `SO_REUSEADDR` on the listener (default on, so a restarted server can bind
    /// while old connections linger in TIME_WAIT).
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.options.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT` on the listener (default off; Unix only, ignored elsewhere).
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.options.reuse_port = on;
        self
    }

    /// `TCP_NODELAY` on accepted and outgoing sockets (default on: frames are
    /// already batched by the driver, so Nagle's delay only adds latency).
    pub fn nodelay(mut self, on: bool) -> Self {
        self.options.nodelay = on;
        self
    }
}

fn socket_for(addr: &SocketAddr) -> io::Result<TcpSocket> {
    if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

impl StreamTransport for Tcp {
    const NAME: &'static str = "tcp";
    type Stream = TcpStream;
    type Listener = TcpAccept;
    type Target = SocketAddr;
    type Adopted = std::net::TcpListener;

    /// TCP at `addr` (IPv4 or IPv6; port 0 picks a free port), with the default
    /// options: a backlog of 1024, `SO_REUSEADDR` on, `SO_REUSEPORT` off,
    /// `TCP_NODELAY` on.
    fn at(addr: SocketAddr) -> Self {
        Tcp {
            addr,
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
            nodelay: true,
            adopted: None,
        }
    }

    fn endpoint(&self) -> SocketAddr {
        self.addr
    }

    /// TCP serving `listener`; the bind options (`backlog`, `reuse_address`,
    /// `reuse_port`) do not apply.
    fn adopt(listener: std::net::TcpListener) -> io::Result<Self> {
        let mut tcp = Tcp::at(listener.local_addr()?);
        tcp.adopted = Some(Arc::new(listener));
        Ok(tcp)
    }

    fn bind(&self) -> io::Result<(TcpAccept, SocketAddr)> {
        let listener = match &self.adopted {
            Some(adopted) => {
                let listener = adopted.try_clone()?;
                listener.set_nonblocking(true)?;
                TcpListener::from_std(listener)?
            }
            None => {
                let socket = socket_for(&self.addr)?;
                socket.set_reuseaddr(self.reuse_address)?;
                #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
                if self.reuse_port {
                    socket.set_reuseport(true)?;
                }
                socket.bind(self.addr)?;
                socket.listen(self.backlog)?
            }
        };
        let local = listener.local_addr()?;
        let accept = TcpAccept {
            listener,
            nodelay: self.nodelay,
        };
        Ok((accept, local))
    }

    /// Dials from the manager's endpoint: its address, and its port unless the
    /// listener holds it.
    fn dial(
        &self,
        target: &SocketAddr,
        listening: Option<&Addr>,
    ) -> impl Future<Output = io::Result<(TcpStream, Addr, Addr)>> + Send {
        let (target, endpoint, nodelay) = (*target, self.addr, self.nodelay);
        let port = if listening.is_some() {
            0
        } else {
            endpoint.port()
        };
        async move {
            let socket = socket_for(&target)?;
            let same_family = endpoint.is_ipv4() == target.is_ipv4();
            if same_family && (!endpoint.ip().is_unspecified() || port != 0) {
                socket.set_reuseaddr(true)?;
                socket.bind(SocketAddr::new(endpoint.ip(), port))?;
            }
            let stream = socket.connect(target).await?;
            stream.set_nodelay(nodelay)?;
            let local = stream.local_addr()?;
            Ok((stream, local.into(), target.into()))
        }
    }
}

/// A TCP listener as the accept loop sees it.
#[derive(Debug)]
pub struct TcpAccept {
    listener: TcpListener,
    nodelay: bool,
}

impl Listener for TcpAccept {
    type Io = TcpStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, Addr, Addr)>> {
        let (stream, remote) = ready!(self.listener.poll_accept(cx))?;
        let _ = stream.set_nodelay(self.nodelay);
        let local = stream.local_addr()?;
        Poll::Ready(Ok((stream, local.into(), remote.into())))
    }
}
