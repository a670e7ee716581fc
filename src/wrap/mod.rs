//! Wrappers: transformations of a connection's raw I/O object, as tower services.
//!
//! A wrapper takes the socket a manager accepted or connected (or the stream of a live
//! connection) and returns the stream the connection runs on: [`SocketOptions`] returns
//! the same socket with options set, `TlsServer` and `TlsClient` (feature `tls`)
//! return the TLS stream after the handshake. Each has a `Layer`, and
//! [`WrapperChain`] composes layers in order, as `tower::ServiceBuilder` does; any
//! `tower::Service` from a stream to an [`Io`] is a wrapper, so is a closure through
//! `tower::service_fn` or [`wrap_fn`].
//!
//! Where wrappers apply:
//!
//! - `start(acceptor, wrapper)` on a stream manager wraps each accepted socket before
//!   the acceptor sees the connection (so it sees the TLS peer, [`Tendril::tls`]).
//!   Wrapping runs on its own task, counted against `max_connections`; the wrapper's
//!   `poll_ready` is asked with each accepted socket in hand, before `call` (a TLS
//!   wrapper with every handshake slot taken sheds a silent handshake then, rather
//!   than stopping the accept loop). A connection still
//!   being wrapped when the manager stops accepting is dropped; `shutdown` also aborts
//!   wrappers in progress.
//! - `connect(target, acceptor, wrapper)` wraps the outgoing socket.
//! - [`Tendril::wrap`] wraps a live connection (STARTTLS).
//!
//! A wrapper failure (a handshake error or timeout) closes that connection with an
//! error for which [`Error::is_wrap`] is true, counted in
//! [`Stats::wrap_failed`](crate::Stats); the listener and the other connections go on.
//!
//! [`Tendril::tls`]: crate::Tendril::tls
//! [`Tendril::wrap`]: crate::Tendril::wrap
//! [`Error::is_wrap`]: crate::Error::is_wrap

mod chain;
mod error;
mod future;
#[cfg(any(feature = "tls", feature = "proxy-protocol"))]
mod handshakes;
mod info;
mod io;
#[cfg(feature = "proxy-protocol")]
mod proxy;
mod proxy_header;
mod socket;
#[cfg(feature = "tls")]
mod tls;
mod wrap_fn;
mod wrapper;

pub use chain::WrapperChain;
pub use error::PlaintextAfterUpgrade;
pub use future::ResponseFuture;
pub use info::{PeerCredentials, TlsInfo};
pub use io::{box_io, BoxIo, Io};
/// The network type of [`ProxyProtocolLayer::trusted`] (from the ipnet crate).
#[cfg(feature = "proxy-protocol")]
pub use ipnet::IpNet;
#[cfg(feature = "proxy-protocol")]
pub use proxy::{ProxyError, ProxyProtocol, ProxyProtocolLayer, ProxyStream};
pub use proxy_header::{ProxyCommand, ProxyHeader, ProxySsl};
/// The rustls crate the TLS wrappers use (for configs, certificates, server names).
#[cfg(feature = "tls")]
pub use rustls;
pub use socket::{SocketOptions, SocketOptionsLayer};
#[cfg(feature = "tls")]
pub use tls::{
    tls_client_config, tls_server_config, HandshakeShed, HandshakeTimeout, TlsClient,
    TlsClientLayer, TlsConfigHandle, TlsServer, TlsServerLayer, TlsStream,
};
pub use wrap_fn::{wrap_fn, WrapFn, WrapFnLayer};
pub(crate) use wrapper::take_ready;
pub use wrapper::{NoWrapper, Wrapper};
