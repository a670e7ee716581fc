//! Unix stream sockets, as a plug-in transport.
//!
//! Written only against the public interface ([`Connections`], [`Manager`],
//! [`Addr`], ...), as a transport from another crate would be: it proves that a third
//! party can add a transport the same way.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{UnixListener, UnixStream};

use crate::app::Acceptor;
use crate::framer::FramerSwitch;
use crate::manager::{Connections, Endpoint, Listener, Manager, Stats};
use crate::wrap::Wrapper;
use crate::{Addr, ConnectionConfig, Error, Tendril};

/// Numbers for unnamed socket ends, unique in the process.
static NEXT_UNNAMED: AtomicU64 = AtomicU64::new(1);

fn unnamed() -> Addr {
    Addr::Unnamed(NEXT_UNNAMED.fetch_add(1, Ordering::Relaxed))
}

struct Inner {
    path: PathBuf,
    endpoint: Endpoint,
    connections: Connections,
    running: AtomicBool,
    /// True while this manager's socket file exists (it removes it on shutdown).
    bound: AtomicBool,
}

/// Listens and connects on Unix stream sockets at filesystem paths, with the same
/// [`Tendril`] API as TCP. Connections are tracked by (`Addr::Path` of the listener,
/// `Addr::Unnamed(n)` of the client); `local_addr()`/`remote_addr()` on their Tendrils
/// are the unspecified socket address.
///
/// On start, a stale socket file (nothing listening) is removed; a live one is an
/// `AddrInUse` error. The file is removed on shutdown.
///
/// ```no_run
/// use bytes::Bytes;
/// use tendril_net::app::acceptor_fn;
/// use tendril_net::wrap::NoWrapper;
/// use tendril_net::{BoxError, Tendril, UnixManager};
/// use tower::service_fn;
///
/// # async fn run() -> Result<(), BoxError> {
/// let manager = UnixManager::new("/tmp/echo.sock");
/// manager.start(acceptor_fn(|_: Tendril| -> Result<_, BoxError> {
///     Ok(service_fn(|frame: Bytes| async move { Ok::<_, BoxError>(frame) }))
/// }), NoWrapper)?;
/// # Ok(()) }
/// # let _ = run();
/// ```
#[derive(Clone)]
pub struct UnixManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for UnixManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixManager")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl UnixManager {
    /// A manager for the socket at `path`, with the default connection settings and at
    /// most 10,000 connections.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        UnixManager::with_config(path, ConnectionConfig::default(), 10_000)
    }

    /// A manager for `path` with `config` per connection and `max_connections`.
    pub fn with_config(
        path: impl Into<PathBuf>,
        config: ConnectionConfig,
        max_connections: usize,
    ) -> Self {
        let path = path.into();
        UnixManager {
            inner: Arc::new(Inner {
                endpoint: Endpoint::Path(path.clone()),
                path,
                connections: Connections::new("unix", config, max_connections),
                running: AtomicBool::new(false),
                bound: AtomicBool::new(false),
            }),
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Binds the path (replacing a stale socket file) and accepts connections: each
    /// stream goes through `wrapper` ([`NoWrapper`](crate::wrap::NoWrapper) for none),
    /// then `acceptor` is called with its [`Tendril`] (frames are [`Bytes`]; framers
    /// start as identity).
    ///
    /// # Errors
    ///
    /// I/O errors from binding; `AddrInUse` if a server listens at the path, or the
    /// manager was already started.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start<A, W>(&self, acceptor: A, wrapper: W) -> Result<(), Error>
    where
        A: Acceptor<Bytes, Bytes> + Send + 'static,
        W: Wrapper<UnixStream>,
    {
        self.start_with_framers(acceptor, wrapper, FramerSwitch::default)
    }

    /// [`start`](Self::start) for any frame types.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start_with_framers<A, W, In, Out, F>(
        &self,
        acceptor: A,
        wrapper: W,
        framers: F,
    ) -> Result<(), Error>
    where
        A: Acceptor<In, Out> + Send + 'static,
        W: Wrapper<UnixStream>,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let inner = &self.inner;
        if inner.running.swap(true, Ordering::AcqRel) || inner.connections.is_stopped() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "the manager was already started",
            )
            .into());
        }
        let listener = match bind(&inner.path) {
            Ok(listener) => listener,
            Err(err) => {
                inner.running.store(false, Ordering::Release);
                return Err(err.into());
            }
        };
        inner.bound.store(true, Ordering::Release);
        let local = Addr::from(inner.path.as_path());
        inner
            .connections
            .listen(UnixAccept { listener, local }, acceptor, wrapper, framers);
        Ok(())
    }

    /// Connects to the Unix socket at `target`, wraps the stream with `wrapper`, and
    /// runs `acceptor`'s application on the connection.
    ///
    /// # Errors
    ///
    /// I/O errors from connecting; [`Error::is_wrap`] if the wrapper failed;
    /// [`Error::is_application`] if the acceptor refused.
    pub async fn connect<A, W>(
        &self,
        target: impl AsRef<Path>,
        acceptor: A,
        wrapper: W,
    ) -> Result<Tendril, Error>
    where
        A: Acceptor<Bytes, Bytes>,
        W: Wrapper<UnixStream>,
    {
        self.connect_with_framers(target, acceptor, wrapper, FramerSwitch::default())
            .await
    }

    /// [`connect`](Self::connect) for any frame types, with the initial `framers`.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_framers<A, W, In, Out>(
        &self,
        target: impl AsRef<Path>,
        acceptor: A,
        wrapper: W,
        framers: FramerSwitch<In, Out>,
    ) -> Result<Tendril<In, Out>, Error>
    where
        A: Acceptor<In, Out>,
        W: Wrapper<UnixStream>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let target = target.as_ref();
        let stream = UnixStream::connect(target).await?;
        self.inner
            .connections
            .connect(
                stream,
                unnamed(),
                Addr::from(target),
                framers,
                acceptor,
                wrapper,
            )
            .await
    }

    /// True while accepting.
    pub fn running(&self) -> bool {
        self.inner.running.load(Ordering::Acquire) && !self.inner.connections.is_stopped()
    }

    /// Stops accepting; live connections go on (the socket file stays until shutdown).
    pub fn stop(&self) {
        self.inner.connections.stop();
    }

    fn remove_file(&self) {
        if self.inner.bound.swap(false, Ordering::AcqRel) {
            let _ = std::fs::remove_file(&self.inner.path);
        }
    }

    /// Stops accepting, closes every connection now, and removes the socket file.
    pub fn shutdown(&self) {
        self.inner.connections.shutdown();
        self.remove_file();
    }

    /// Stops accepting (removing the socket file), lets in-flight frames finish, then
    /// closes; after `deadline`, closes the rest. True if all finished in time.
    pub fn graceful_shutdown(
        &self,
        deadline: Duration,
    ) -> impl Future<Output = bool> + Send + 'static {
        let finished = self.inner.connections.graceful_shutdown(deadline);
        self.remove_file();
        finished
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.connections.stats()
    }

    /// The live connection between `local` and `remote`.
    pub fn tendril(&self, local: &Addr, remote: &Addr) -> Option<Tendril> {
        self.inner.connections.tendril_as(local, remote)
    }

    /// The (local, remote) addresses of every live connection.
    pub fn connections(&self) -> Vec<(Addr, Addr)> {
        self.inner.connections.connections()
    }
}

/// Binds `path`, first removing a stale socket file: one nothing listens on.
/// The listener as the shared accept loop sees it.
struct UnixAccept {
    listener: UnixListener,
    local: Addr,
}

impl Listener for UnixAccept {
    type Io = UnixStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, Addr, Addr)>> {
        let (stream, _) = ready!(self.listener.poll_accept(cx))?;
        Poll::Ready(Ok((stream, self.local.clone(), unnamed())))
    }
}

fn bind(path: &Path) -> io::Result<UnixListener> {
    if std::fs::symlink_metadata(path).is_ok() {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a server is listening at {}", path.display()),
                ))
            }
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path)?
            }
            Err(err) => return Err(err),
        }
    }
    UnixListener::bind(path)
}

impl Manager for UnixManager {
    fn transport(&self) -> &str {
        "unix"
    }

    fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }

    fn running(&self) -> bool {
        UnixManager::running(self)
    }

    fn stop(&self) {
        UnixManager::stop(self);
    }

    fn shutdown(&self) {
        UnixManager::shutdown(self);
    }

    fn graceful_shutdown(&self, deadline: Duration) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        Box::pin(UnixManager::graceful_shutdown(self, deadline))
    }

    fn stats(&self) -> Stats {
        UnixManager::stats(self)
    }

    fn connection(&self, local: &Addr, remote: &Addr) -> Option<Arc<dyn Any + Send + Sync>> {
        self.inner.connections.find(local, remote)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
