//! [`TlsConfigHandle`]: a TLS server wrapper's configuration, swapped while it runs.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;

use super::config::tls_server_config;
use crate::error::Error;

/// The server configuration of the TLS server wrappers built from one
/// [`TlsServerLayer`](super::TlsServerLayer) (its
/// [`config_handle`](super::TlsServerLayer::config_handle)), replaceable while they
/// run: each handshake takes the configuration set last, and a connection made before
/// keeps the one it was made with. For certificate renewal without a restart: call
/// [`reload_pem`](Self::reload_pem) on SIGHUP (the `tls_echo` and `smtp_server`
/// examples do), from a timer, or when a file watcher sees the files change. Clones
/// share the configuration.
///
/// ```
/// use tendril_net::wrap::{tls_server_config, TlsServerLayer};
/// # fn pems() -> (String, String) {
/// #     let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// #     (made.cert.pem(), made.signing_key.serialize_pem())
/// # }
/// let (cert, key) = pems();
/// let layer = TlsServerLayer::new(tls_server_config(cert.as_bytes(), key.as_bytes())?)
///     .alpn_protocols(["echo"]);
/// let handle = layer.config_handle();
/// // Later, with a renewed certificate: new handshakes use it.
/// let (cert, key) = pems();
/// handle.set(tls_server_config(cert.as_bytes(), key.as_bytes())?);
/// assert_eq!(handle.current().alpn_protocols, [b"echo".to_vec()]);
/// # Ok::<(), tendril_net::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfigHandle {
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl fmt::Debug for TlsConfigHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfigHandle")
            .field("alpn_protocols", &self.current().alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// A fixed configuration, in a handle of its own.
impl From<Arc<ServerConfig>> for TlsConfigHandle {
    fn from(config: Arc<ServerConfig>) -> Self {
        TlsConfigHandle::new(config)
    }
}

impl TlsConfigHandle {
    pub(super) fn new(config: Arc<ServerConfig>) -> Self {
        TlsConfigHandle {
            current: Arc::new(RwLock::new(config)),
        }
    }

    /// The configuration the next handshake uses.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the configuration for the handshakes from now on. It is taken as it
    /// is: its ALPN protocols are those the wrappers offer from now on (when it sets
    /// none, the ones offered until now are kept).
    pub fn set(&self, config: impl Into<Arc<ServerConfig>>) {
        let mut config = config.into();
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if config.alpn_protocols.is_empty() && !current.alpn_protocols.is_empty() {
            Arc::make_mut(&mut config).alpn_protocols = current.alpn_protocols.clone();
        }
        *current = config;
    }

    /// Reads a certificate chain and its key from PEM files (as
    /// [`tls_server_config`] takes them) and [`set`](Self::set)s the configuration
    /// they make. When a file cannot be read, holds no certificate or key, or the key
    /// does not match, the configuration in use is kept, one `warn` event names the
    /// file and the error, and the error is returned.
    ///
    /// # Errors
    ///
    /// [`Error::is_io`] if a file cannot be read, [`Error::is_config`] if the PEM is
    /// unusable; nothing was changed.
    pub fn reload_pem(&self, cert_chain: &Path, key: &Path) -> Result<(), Error> {
        let loaded = (|| {
            let read = |path: &Path| {
                std::fs::read(path).map_err(|err| (path.display().to_string(), Error::from(err)))
            };
            let (chain, key_pem) = (read(cert_chain)?, read(key)?);
            tls_server_config(&chain, &key_pem).map_err(|err| {
                let files = format!("{} and {}", cert_chain.display(), key.display());
                (files, err)
            })
        })();
        match loaded {
            Ok(config) => {
                self.set(config);
                tracing::info!(cert = %cert_chain.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err((file, err)) => {
                tracing::warn!(
                    %file,
                    error = %format_args!("{err:#}"),
                    "TLS certificate not reloaded: the configuration in use is kept"
                );
                Err(err)
            }
        }
    }
}
