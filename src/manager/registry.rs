//! The registry: one manager per (transport, endpoint), transports plugged in by name.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};

use super::{Manager, TcpManager, UdpManager};
use crate::error::Error;
use crate::tendril::{Addr, Tendril};

/// A transport: creates the manager for an endpoint. Closures
/// `Fn(&Addr) -> Result<Arc<dyn Manager>, Error>` are transports.
pub trait Transport: Send + Sync + 'static {
    /// Creates the manager for `endpoint`.
    ///
    /// # Errors
    ///
    /// When the endpoint does not suit the transport.
    fn create(&self, endpoint: &Addr) -> Result<Arc<dyn Manager>, Error>;
}

impl<F> Transport for F
where
    F: Fn(&Addr) -> Result<Arc<dyn Manager>, Error> + Send + Sync + 'static,
{
    fn create(&self, endpoint: &Addr) -> Result<Arc<dyn Manager>, Error> {
        self(endpoint)
    }
}

type ManagerKey = (String, Addr);

/// The transport of a manager made by `new` from an endpoint it takes (a socket
/// address, a path), with the default settings.
fn factory<E, M>(new: fn(E) -> M) -> impl Transport
where
    E: for<'a> TryFrom<&'a Addr, Error = Error> + 'static,
    M: Manager,
{
    move |endpoint: &Addr| -> Result<Arc<dyn Manager>, Error> {
        Ok(Arc::new(new(E::try_from(endpoint)?)))
    }
}

/// Finds or creates the one manager for a (transport, endpoint) pair.
///
/// A process-wide registry is returned by [`registry()`]; [`Registry::new`] makes an
/// isolated one (for tests, or several independent stacks in one process). A factory
/// runs outside the registry's lock, so a transport may itself get managers of other
/// transports from the same registry. A manager that was shut down is replaced by a new
/// one on the next `get_manager`. [`find_tendril`](Registry::find_tendril) searches the
/// managers made through this registry only; a manager made with `new` directly is
/// reached through its own lookups.
///
/// ```
/// use std::sync::Arc;
/// use tendril_net::{Addr, Error, Manager, Registry, TcpManager};
///
/// let registry = Registry::new();
/// // A third-party transport registers by name; here it reuses TCP.
/// registry.register("my-tcp", |endpoint: &Addr| -> Result<Arc<dyn Manager>, Error> {
///     Ok(Arc::new(TcpManager::new(endpoint.try_into()?)))
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
        registry.register("tcp", factory(TcpManager::new));
        registry.register("udp", factory(UdpManager::new));
        #[cfg(unix)]
        registry.register("unix", factory(super::UnixManager::new));
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
    /// registered as `proto` on first use (or when the one made before was shut down).
    /// Managers are not started by this call.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] when no transport is registered as `proto`, or the
    /// transport's own error when it cannot serve the endpoint.
    pub fn get_manager(
        &self,
        proto: &str,
        endpoint: impl Into<Addr>,
    ) -> Result<Arc<dyn Manager>, Error> {
        let key = (proto.to_owned(), endpoint.into());
        if let Some(manager) = self.live(&key) {
            return Ok(manager);
        }
        let transport = self
            .transports
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(proto)
            .cloned()
            .ok_or_else(|| Error::config(format!("no transport registered as {proto:?}")))?;
        // Outside the lock: a factory may use this registry itself.
        let made = transport.create(&key.1)?;
        let mut managers = self.lock();
        match managers.get(&key) {
            // Another caller made one meanwhile: theirs is the one.
            Some(manager) if !manager.is_shut_down() => Ok(manager.clone()),
            _ => {
                managers.insert(key, made.clone());
                Ok(made)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ManagerKey, Arc<dyn Manager>>> {
        self.managers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The manager for `key`, unless it was shut down.
    fn live(&self, key: &ManagerKey) -> Option<Arc<dyn Manager>> {
        self.lock()
            .get(key)
            .filter(|manager| !manager.is_shut_down())
            .cloned()
    }

    /// [`get_manager`](Self::get_manager), downcast to the concrete manager type.
    ///
    /// # Errors
    ///
    /// As `get_manager`, and [`Error::is_config`] if the manager is not an `M`.
    pub fn get<M: Manager + Clone>(
        &self,
        proto: &str,
        endpoint: impl Into<Addr>,
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

    /// The live connection between `local` and `remote` on any `proto` manager of
    /// this registry, if its frames are `In` and `Out`. Only managers made through
    /// this registry ([`get_manager`](Self::get_manager), [`get`](Self::get)) are
    /// searched: one built with `TcpManager::new` is not in any registry.
    pub fn find_tendril<In: 'static, Out: 'static>(
        &self,
        proto: &str,
        (local, remote): (impl Into<Addr>, impl Into<Addr>),
    ) -> Option<Tendril<In, Out>> {
        let (local, remote) = (local.into(), remote.into());
        let managers: Vec<Arc<dyn Manager>> = self
            .lock()
            .iter()
            .filter(|((name, _), _)| name == proto)
            .map(|(_, manager)| manager.clone())
            .collect();
        managers
            .iter()
            .find_map(|manager| manager.engine().find(&local, &remote))
    }

    /// Every manager of this registry that was not shut down.
    pub fn managers(&self) -> Vec<Arc<dyn Manager>> {
        self.lock()
            .values()
            .filter(|manager| !manager.is_shut_down())
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
pub fn get_manager(proto: &str, endpoint: impl Into<Addr>) -> Result<Arc<dyn Manager>, Error> {
    registry().get_manager(proto, endpoint)
}

/// [`Registry::find_tendril`] on the process-wide registry.
pub fn find_tendril<In: 'static, Out: 'static>(
    proto: &str,
    addrs: (impl Into<Addr>, impl Into<Addr>),
) -> Option<Tendril<In, Out>> {
    registry().find_tendril(proto, addrs)
}
