//! The registry: one manager per (transport, endpoint), transports plugged in by name.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::{Stats, TcpManager, UdpManager};
use crate::error::Error;
use crate::tendril::{Addr, Tendril};

/// Where a manager lives: a socket address, or a filesystem path for transports such
/// as Unix sockets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// An IPv4 or IPv6 socket address (port 0: any free port).
    Inet(SocketAddr),
    /// A filesystem path.
    Path(PathBuf),
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint::Inet(addr)
    }
}

impl From<PathBuf> for Endpoint {
    fn from(path: PathBuf) -> Self {
        Endpoint::Path(path)
    }
}

impl From<&Path> for Endpoint {
    fn from(path: &Path) -> Self {
        Endpoint::Path(path.to_owned())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Inet(addr) => addr.fmt(f),
            Endpoint::Path(path) => path.display().fmt(f),
        }
    }
}

/// What every manager offers, whatever its transport: the object-safe part, so the
/// registry can hold managers of any transport. Starting and connecting are generic
/// over the application and live on the concrete types ([`TcpManager`], ...); reach
/// them with [`Registry::get`] or [`Manager::as_any`].
pub trait Manager: fmt::Debug + Send + Sync + 'static {
    /// The transport's registered name.
    fn transport(&self) -> &str;
    /// The endpoint the manager was created for.
    fn endpoint(&self) -> &Endpoint;
    /// The bound address once started (port 0 resolved).
    fn local_addr(&self) -> Option<SocketAddr>;
    /// True between `start` and `stop`/`shutdown`.
    fn running(&self) -> bool;
    /// Stops accepting; live connections go on.
    fn stop(&self);
    /// Stops accepting and closes every connection now.
    fn shutdown(&self);
    /// Stops accepting, lets in-flight frames finish and replies flush, then closes;
    /// closes what is left after `deadline`. Resolves to true if all finished in time.
    fn graceful_shutdown(&self, deadline: Duration) -> Pin<Box<dyn Future<Output = bool> + Send>>;
    /// A snapshot of the counters.
    fn stats(&self) -> Stats;
    /// The live connection between `local` and `remote`, as a type-erased
    /// [`Tendril`] (see [`Registry::find_tendril`] for the typed lookup).
    fn connection(&self, local: &Addr, remote: &Addr) -> Option<Arc<dyn Any + Send + Sync>>;
    /// The concrete manager, for downcasting.
    fn as_any(&self) -> &dyn Any;
}

/// A transport: creates the manager for an endpoint. Closures
/// `Fn(&Endpoint) -> Result<Arc<dyn Manager>, Error>` are transports.
pub trait Transport: Send + Sync + 'static {
    /// Creates the manager for `endpoint`.
    ///
    /// # Errors
    ///
    /// When the endpoint does not suit the transport.
    fn create(&self, endpoint: &Endpoint) -> Result<Arc<dyn Manager>, Error>;
}

impl<F> Transport for F
where
    F: Fn(&Endpoint) -> Result<Arc<dyn Manager>, Error> + Send + Sync + 'static,
{
    fn create(&self, endpoint: &Endpoint) -> Result<Arc<dyn Manager>, Error> {
        self(endpoint)
    }
}

type ManagerKey = (String, Endpoint);

/// Finds or creates the one manager for a (transport, endpoint) pair.
///
/// A process-wide registry is returned by [`registry()`]; [`Registry::new`] makes an
/// isolated one (for tests, or several independent stacks in one process).
///
/// ```
/// use std::sync::Arc;
/// use tendril_net::{Endpoint, Error, Manager, Registry, TcpManager};
///
/// let registry = Registry::new();
/// // A third-party transport registers by name; here it reuses TCP.
/// registry.register("my-tcp", |endpoint: &Endpoint| -> Result<Arc<dyn Manager>, Error> {
///     match endpoint {
///         Endpoint::Inet(addr) => Ok(Arc::new(TcpManager::new(*addr))),
///         _ => Err(Error::from(std::io::Error::other("needs a socket address"))),
///     }
/// });
/// let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
/// let a = registry.get_manager("my-tcp", addr).unwrap();
/// let b = registry.get_manager("my-tcp", addr).unwrap();
/// assert!(Arc::ptr_eq(&a, &b));
/// assert!(registry.get_manager("nope", addr).unwrap_err().is_config());
/// ```
pub struct Registry {
    transports: RwLock<HashMap<String, Arc<dyn Transport>>>,
    managers: Mutex<HashMap<ManagerKey, Arc<dyn Manager>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transports = self
            .transports
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Registry")
            .field("transports", &transports.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// A registry with the built-in transports (`"tcp"`, `"udp"`, and on Unix
    /// `"unix"`).
    pub fn new() -> Self {
        let registry = Registry::empty();
        #[cfg(unix)]
        registry.register(
            "unix",
            |endpoint: &Endpoint| -> Result<Arc<dyn Manager>, Error> {
                match endpoint {
                    Endpoint::Path(path) => Ok(Arc::new(super::UnixManager::new(path.clone()))),
                    other => Err(Error::config(format!("unix needs a path, not {other}"))),
                }
            },
        );
        registry.register(
            "udp",
            |endpoint: &Endpoint| -> Result<Arc<dyn Manager>, Error> {
                match endpoint {
                    Endpoint::Inet(addr) => Ok(Arc::new(UdpManager::new(*addr))),
                    other => Err(Error::config(format!(
                        "udp needs a socket address, not {other}"
                    ))),
                }
            },
        );
        registry.register(
            "tcp",
            |endpoint: &Endpoint| -> Result<Arc<dyn Manager>, Error> {
                match endpoint {
                    Endpoint::Inet(addr) => Ok(Arc::new(TcpManager::new(*addr))),
                    other => Err(Error::config(format!(
                        "tcp needs a socket address, not {other}"
                    ))),
                }
            },
        );
        registry
    }

    /// A registry without any transport.
    pub fn empty() -> Self {
        Registry {
            transports: RwLock::default(),
            managers: Mutex::default(),
        }
    }

    /// Registers `transport` under `name`, replacing (and returning) any previous one.
    pub fn register(
        &self,
        name: impl Into<String>,
        transport: impl Transport,
    ) -> Option<Arc<dyn Transport>> {
        self.transports
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), Arc::new(transport))
    }

    /// The one manager for (`proto`, `endpoint`), created through the transport
    /// registered as `proto` on first use. Managers are not started by this call.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] when no transport is registered as `proto`, or the
    /// transport's own error when it cannot serve the endpoint.
    pub fn get_manager(
        &self,
        proto: &str,
        endpoint: impl Into<Endpoint>,
    ) -> Result<Arc<dyn Manager>, Error> {
        let endpoint = endpoint.into();
        let key = (proto.to_owned(), endpoint);
        let mut managers = self.managers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(manager) = managers.get(&key) {
            return Ok(manager.clone());
        }
        let transport = self
            .transports
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(proto)
            .cloned()
            .ok_or_else(|| Error::config(format!("no transport registered as {proto:?}")))?;
        let manager = transport.create(&key.1)?;
        managers.insert(key, manager.clone());
        Ok(manager)
    }

    /// [`get_manager`](Self::get_manager), downcast to the concrete manager type.
    ///
    /// # Errors
    ///
    /// As `get_manager`, and [`Error::is_config`] if the manager is not an `M`.
    pub fn get<M: Manager + Clone>(
        &self,
        proto: &str,
        endpoint: impl Into<Endpoint>,
    ) -> Result<M, Error> {
        let manager = self.get_manager(proto, endpoint)?;
        manager
            .as_any()
            .downcast_ref::<M>()
            .cloned()
            .ok_or_else(|| {
                Error::config(format!(
                    "the {proto:?} manager is not a {}",
                    std::any::type_name::<M>()
                ))
            })
    }

    /// The live connection between `local` and `remote` on any `proto` manager, if its
    /// frames are `In` and `Out`.
    pub fn find_tendril<In: 'static, Out: 'static>(
        &self,
        proto: &str,
        (local, remote): (impl Into<Addr>, impl Into<Addr>),
    ) -> Option<Tendril<In, Out>> {
        let (local, remote) = (local.into(), remote.into());
        let managers: Vec<Arc<dyn Manager>> = self
            .managers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|((name, _), _)| name == proto)
            .map(|(_, manager)| manager.clone())
            .collect();
        managers.iter().find_map(|manager| {
            manager
                .connection(&local, &remote)?
                .downcast_ref::<Tendril<In, Out>>()
                .cloned()
        })
    }

    /// Every manager created so far.
    pub fn managers(&self) -> Vec<Arc<dyn Manager>> {
        self.managers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

static DEFAULT: LazyLock<Registry> = LazyLock::new(Registry::new);

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    &DEFAULT
}

/// [`Registry::get_manager`] on the process-wide registry.
///
/// # Errors
///
/// As [`Registry::get_manager`].
pub fn get_manager(proto: &str, endpoint: impl Into<Endpoint>) -> Result<Arc<dyn Manager>, Error> {
    registry().get_manager(proto, endpoint)
}

/// [`Registry::find_tendril`] on the process-wide registry.
pub fn find_tendril<In: 'static, Out: 'static>(
    proto: &str,
    addrs: (impl Into<Addr>, impl Into<Addr>),
) -> Option<Tendril<In, Out>> {
    registry().find_tendril(proto, addrs)
}
