//! Connection addresses: socket addresses, and the paths or anonymous ends of
//! transports such as Unix sockets.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;

/// One end of a connection.
///
/// IP transports use [`Addr::Inet`]; a Unix socket listener is an [`Addr::Path`], and
/// its unnamed clients are [`Addr::Unnamed`], told apart by a number unique in the
/// process; a stream of a multiplexed connection (QUIC) is an [`Addr::Stream`].
/// Managers track connections by their (local, remote) pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Addr {
    /// An IPv4 or IPv6 socket address.
    Inet(SocketAddr),
    /// A filesystem path.
    Path(Arc<Path>),
    /// An end without a name (a Unix client socket), numbered.
    Unnamed(u64),
    /// One stream of a connection that carries many (a QUIC stream). Its
    /// [`as_inet`](Addr::as_inet) is the peer's address. Shared, so that an `Addr`
    /// stays as small as a socket address (every connection holds two).
    Stream(Arc<StreamAddr>),
}

/// The name of one stream of a multiplexed connection: the peer's socket address, the
/// connection's number and the stream's, which together name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamAddr {
    /// The peer's socket address.
    pub peer: SocketAddr,
    /// The connection's number (stable while it lives).
    pub connection: u64,
    /// The stream's number within the connection.
    pub stream: u64,
}

impl From<StreamAddr> for Addr {
    fn from(stream: StreamAddr) -> Self {
        Addr::Stream(Arc::new(stream))
    }
}

impl Addr {
    /// The socket address, for IP transports (a stream's: its peer's).
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            Addr::Inet(addr) => Some(*addr),
            Addr::Stream(stream) => Some(stream.peer),
            _ => None,
        }
    }

    /// The path, for filesystem addresses.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            Addr::Path(path) => Some(path),
            _ => None,
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(addr: SocketAddr) -> Self {
        Addr::Inet(addr)
    }
}

impl From<&Addr> for Addr {
    fn from(addr: &Addr) -> Self {
        addr.clone()
    }
}

impl From<PathBuf> for Addr {
    fn from(path: PathBuf) -> Self {
        Addr::Path(path.into())
    }
}

impl From<&Path> for Addr {
    fn from(path: &Path) -> Self {
        Addr::Path(path.into())
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(addr) => addr.fmt(f),
            Addr::Path(path) => path.display().fmt(f),
            Addr::Unnamed(number) => write!(f, "unnamed#{number}"),
            Addr::Stream(stream) => {
                let StreamAddr {
                    peer,
                    connection,
                    stream,
                } = &**stream;
                write!(f, "{peer}#{connection}/{stream}")
            }
        }
    }
}

/// The socket address of an [`Addr::Inet`] (a registry factory's endpoint).
impl TryFrom<&Addr> for SocketAddr {
    type Error = Error;

    fn try_from(addr: &Addr) -> Result<Self, Error> {
        addr.as_inet()
            .ok_or_else(|| Error::config(format!("a socket address is needed, not {addr}")))
    }
}

/// The path of an [`Addr::Path`] (a registry factory's endpoint).
impl TryFrom<&Addr> for PathBuf {
    type Error = Error;

    fn try_from(addr: &Addr) -> Result<Self, Error> {
        addr.as_path()
            .map(Path::to_owned)
            .ok_or_else(|| Error::config(format!("a path is needed, not {addr}")))
    }
}
