//! Unix stream sockets as a stream transport: the socket file's path and mode, and the
//! safety of its file (never removing what is not this manager's own socket). The
//! manager is [`StreamManager<Unix>`](super::StreamManager); connections' peer
//! credentials come from the stream ([`Io::peer_credentials`](crate::wrap::Io)).

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::net::{UnixListener, UnixStream};

use super::{Builder, Listener, StreamManager, StreamTransport};
use crate::tendril::Addr;

/// Numbers for unnamed socket ends, unique in the process.
static NEXT_UNNAMED: AtomicU64 = AtomicU64::new(1);

fn unnamed() -> Addr {
    Addr::Unnamed(NEXT_UNNAMED.fetch_add(1, Ordering::Relaxed))
}

/// Listens and connects on Unix stream sockets at filesystem paths, with the same
/// [`Tendril`](crate::Tendril) API as TCP: the [`StreamManager`] of [`Unix`].
/// Connections are tracked by (`Addr::Path` of the listener, `Addr::Unnamed(n)` of the
/// client), and [`Tendril::peer_credentials`](crate::Tendril::peer_credentials) gives
/// the client process's uid, gid and pid.
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
/// let manager = UnixManager::builder("/tmp/echo.sock".into()).socket_mode(0o600).build();
/// manager.start(acceptor_fn(|client: Tendril| -> Result<_, BoxError> {
///     println!("uid {:?}", client.peer_credentials().map(|c| c.uid));
///     Ok(service_fn(|frame: Bytes| async move { Ok::<_, BoxError>(frame) }))
/// }), NoWrapper)?;
/// # Ok(()) }
/// # let _ = run();
/// ```
pub type UnixManager = StreamManager<Unix>;

/// A [`UnixManager`]'s options and bounds (see [`StreamManager::builder`]).
pub type UnixBuilder = Builder<Unix>;

/// The Unix socket transport: the path, and the socket file's mode.
#[derive(Debug, Clone)]
pub struct Unix {
    path: PathBuf,
    mode: Option<u32>,
    /// A listening socket handed over ([`StreamTransport::adopt`]), served instead of binding
    /// `path`; its file is never removed.
    adopted: Option<Arc<std::os::unix::net::UnixListener>>,
}

impl Builder<Unix> {
    /// The permission bits of the socket file, such as `0o600` for the owner alone
    /// (connecting needs write permission). Default: as `bind` creates it, `0o777`
    /// less the process's umask (`0o755` with the usual `022`: only the owner may
    /// connect).
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.options.mode = Some(mode);
        self
    }
}

impl StreamTransport for Unix {
    const NAME: &'static str = "unix";
    type Stream = UnixStream;
    type Listener = UnixAccept;
    type Target = PathBuf;
    type Adopted = std::os::unix::net::UnixListener;

    fn at(path: PathBuf) -> Self {
        Unix {
            path,
            mode: None,
            adopted: None,
        }
    }

    fn endpoint(&self) -> PathBuf {
        self.path.clone()
    }

    /// A listening Unix socket this process did not bind (passed by systemd, or by
    /// other code). Its path is the manager's; the socket file is not this manager's
    /// to remove, so it is left in place at shutdown, and `socket_mode` does not
    /// apply. `InvalidInput` for an unnamed socket.
    fn adopt(listener: std::os::unix::net::UnixListener) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let path = addr
            .as_pathname()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "an unnamed Unix socket"))?;
        let mut unix = Unix::at(path.to_owned());
        unix.adopted = Some(Arc::new(listener));
        Ok(unix)
    }

    /// Binds the path, replacing a stale socket file: `AddrInUse` if a server listens
    /// at the path, `AlreadyExists` if something other than a socket is there.
    fn bind(&self) -> io::Result<(UnixAccept, PathBuf)> {
        let (listener, file) = match &self.adopted {
            Some(adopted) => {
                let listener = adopted.try_clone()?;
                listener.set_nonblocking(true)?;
                (UnixListener::from_std(listener)?, None)
            }
            None => {
                let (listener, file) = bind(&self.path, self.mode)?;
                (listener, Some(file))
            }
        };
        let accept = UnixAccept {
            listener,
            local: Addr::from(self.path.as_path()),
            _file: file,
        };
        Ok((accept, self.path.clone()))
    }

    fn dial(
        &self,
        target: &PathBuf,
        _listening: Option<&Addr>,
    ) -> impl Future<Output = io::Result<(UnixStream, Addr, Addr)>> + Send {
        let target = target.clone();
        async move {
            let stream = UnixStream::connect(&target).await?;
            Ok((stream, unnamed(), Addr::from(target)))
        }
    }
}

/// A Unix listener as the accept loop sees it; its socket file goes with it.
#[derive(Debug)]
pub struct UnixAccept {
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
#[derive(Debug)]
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
