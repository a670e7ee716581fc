//! Unix stream sockets, as a plug-in transport.
//!
//! Written only against the public interface ([`Engine`], [`Manager`], [`Addr`], ...),
//! as a transport from another crate would be: it shows that a third party can add a
//! transport the same way.

use std::any::Any;
use std::fmt;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::net::{UnixListener, UnixStream};

use crate::app::Acceptor;
use crate::framer::FramerSwitch;
use crate::manager::{connect_stream, Builder, ConnectStream, Engine, Listener, Manager};
use crate::wrap::Wrapper;
use crate::{Addr, ConnectionConfig, Error, Tendril};

/// Numbers for unnamed socket ends, unique in the process.
static NEXT_UNNAMED: AtomicU64 = AtomicU64::new(1);

fn unnamed() -> Addr {
    Addr::Unnamed(NEXT_UNNAMED.fetch_add(1, Ordering::Relaxed))
}

/// The Unix socket options: the path, and the socket file's mode.
#[derive(Debug, Clone)]
pub struct UnixOptions {
    path: PathBuf,
    mode: Option<u32>,
    /// A listening socket handed over ([`UnixManager::adopt`]), served instead of
    /// binding `path`; its file is never removed.
    adopted: Option<Arc<std::os::unix::net::UnixListener>>,
}

/// A [`UnixManager`]'s options and bounds (see [`UnixManager::builder`]).
pub type UnixBuilder = Builder<UnixOptions>;

impl Builder<UnixOptions> {
    /// The permission bits of the socket file, such as `0o600` for the owner alone
    /// (connecting needs write permission). Default: as `bind` creates it, `0o777`
    /// less the process's umask (`0o755` with the usual `022`: only the owner may
    /// connect).
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.options.mode = Some(mode);
        self
    }

    /// Creates the manager (nothing is bound until [`UnixManager::start`]).
    pub fn build(&self) -> UnixManager {
        UnixManager {
            inner: Arc::new(Inner {
                options: self.options.clone(),
                engine: Engine::with_bounds(
                    "unix",
                    self.options.path.clone(),
                    self.connection.clone(),
                    self.bounds,
                ),
            }),
        }
    }
}

struct Inner {
    options: UnixOptions,
    engine: Engine,
}

/// Listens and connects on Unix stream sockets at filesystem paths, with the same
/// [`Tendril`] API as TCP. Connections are tracked by (`Addr::Path` of the listener,
/// `Addr::Unnamed(n)` of the client); `local_addr()`/`remote_addr()` on their Tendrils
/// are `None`, and [`Tendril::peer_credentials`] gives the client process's uid, gid
/// and pid.
///
/// On start, a stale socket file (nothing listening) is replaced; a live one is an
/// `AddrInUse` error; any other file at the path is left alone and is an
/// `AlreadyExists` error. When accepting stops, the socket file is removed if it is
/// still the one this manager created (same device and inode), so a server that took
/// the path over meanwhile keeps its socket.
///
/// ```no_run
/// use bytes::Bytes;
/// use tendril_net::app::acceptor_fn;
/// use tendril_net::wrap::NoWrapper;
/// use tendril_net::{BoxError, Tendril, UnixManager};
/// use tower::service_fn;
///
/// # async fn run() -> Result<(), BoxError> {
/// let manager = UnixManager::builder("/tmp/echo.sock").socket_mode(0o600).build();
/// manager.start(acceptor_fn(|client: Tendril| -> Result<_, BoxError> {
///     println!("uid {:?}", client.peer_credentials().map(|c| c.uid));
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
            .field("engine", &self.inner.engine)
            .finish_non_exhaustive()
    }
}

impl UnixManager {
    /// A manager for the socket at `path`, with the default settings.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        UnixManager::builder(path).build()
    }

    /// A builder for a manager of the socket at `path` (at most 10,000 connections).
    pub fn builder(path: impl Into<PathBuf>) -> UnixBuilder {
        let options = UnixOptions {
            path: path.into(),
            mode: None,
            adopted: None,
        };
        Builder::with(10_000, ConnectionConfig::default(), options)
    }

    /// A builder for a manager serving `listener`, a listening Unix socket this
    /// process did not bind (passed by systemd, or by other code). Its path is the
    /// manager's; the socket file is not this manager's to remove, so it is left in
    /// place at shutdown, and `socket_mode` does not apply.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an unnamed socket; I/O errors reading its address.
    pub fn adopt(listener: std::os::unix::net::UnixListener) -> io::Result<UnixBuilder> {
        let addr = listener.local_addr()?;
        let path = addr
            .as_pathname()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "an unnamed Unix socket"))?;
        let mut builder = UnixManager::builder(path);
        builder.options.adopted = Some(Arc::new(listener));
        Ok(builder)
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.inner.options.path
    }

    /// Binds the path (replacing a stale socket file) and accepts connections: each
    /// stream goes through `wrapper` ([`NoWrapper`](crate::wrap::NoWrapper) for none),
    /// then `acceptor` is called with its [`Tendril`] (frames are [`Bytes`]; framers
    /// start as identity). Returns the path.
    ///
    /// # Errors
    ///
    /// I/O errors from binding: `AddrInUse` if a server listens at the path,
    /// `AlreadyExists` if something other than a socket is there;
    /// [`Error::is_config`] if already started or shut down.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start<A, W>(&self, acceptor: A, wrapper: W) -> Result<PathBuf, Error>
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
    ) -> Result<PathBuf, Error>
    where
        A: Acceptor<In, Out> + Send + 'static,
        W: Wrapper<UnixStream>,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let engine = &self.inner.engine;
        engine.check_startable()?;
        let options = &self.inner.options;
        let (listener, file) = match &options.adopted {
            Some(adopted) => {
                let listener = adopted.try_clone()?;
                listener.set_nonblocking(true)?;
                (UnixListener::from_std(listener)?, None)
            }
            None => {
                let (listener, file) = bind(&options.path, options.mode)?;
                (listener, Some(file))
            }
        };
        let local = Addr::from(options.path.as_path());
        engine.set_listening(local.clone())?;
        let accept = UnixAccept {
            listener,
            local,
            _file: file,
        };
        engine.listen(accept, acceptor, wrapper, framers);
        Ok(options.path.clone())
    }

    /// Connects to the Unix socket at `target`, wraps the stream with `wrapper`, and
    /// runs `acceptor`'s application on the connection.
    ///
    /// # Errors
    ///
    /// I/O errors from connecting; [`Error::is_wrap`] if the wrapper failed;
    /// [`Error::is_application`] if the acceptor refused; [`Error::is_closed`] after
    /// shutdown.
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
        connect_stream(self, target.as_ref().to_owned(), acceptor, wrapper, framers).await
    }
}

impl Manager for UnixManager {
    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl ConnectStream for UnixManager {
    type Target = PathBuf;
    type Stream = UnixStream;

    async fn dial(&self, target: &PathBuf) -> io::Result<(UnixStream, Addr, Addr)> {
        let stream = UnixStream::connect(target).await?;
        Ok((stream, unnamed(), Addr::from(target.as_path())))
    }
}

/// The listener as the shared accept loop sees it; its socket file goes with it.
struct UnixAccept {
    listener: UnixListener,
    local: Addr,
    _file: Option<SocketFile>,
}

impl Listener for UnixAccept {
    type Io = UnixStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, Addr, Addr)>> {
        let (stream, _) = ready!(self.listener.poll_accept(cx))?;
        Poll::Ready(Ok((stream, self.local.clone(), unnamed())))
    }
}

/// The socket file this manager created: removed when dropped, if it is still that
/// file (same device and inode).
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => {
                let _ = std::fs::remove_file(&self.path);
            }
            _ => {
                tracing::debug!(path = %self.path.display(), "socket file replaced: left in place")
            }
        }
    }
}

/// Binds `path`: a stale socket file (nothing listening) is removed first; a live
/// socket or any other file is an error, and left alone.
fn bind(path: &Path, mode: Option<u32>) -> io::Result<(UnixListener, SocketFile)> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
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
    let listener = UnixListener::bind(path)?;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let meta = std::fs::symlink_metadata(path)?;
    let file = SocketFile {
        path: path.to_owned(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    Ok((listener, file))
}
