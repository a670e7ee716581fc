//! TLS wrappers over rustls (its unbuffered API, the `ring` provider), in tower's shape:
//! [`TlsServerLayer`] and [`TlsClientLayer`] hold the settings and build the
//! [`TlsServer`] and [`TlsClient`] services; the handshake slots and their shedding
//! are the wrappers' shared `handshakes`, the session over the socket is
//! [`TlsStream`] (`stream`; rustls driven over its buffers in `session`), the errors
//! a failed handshake gives are in `error`, and a server's swappable configuration
//! (certificate reload) is [`TlsConfigHandle`].

mod client;
mod config;
mod error;
mod layer;
mod reload;
mod server;
mod session;
mod stream;

pub use client::TlsClient;
pub use config::{tls_client_config, tls_server_config};
pub use error::{HandshakeShed, HandshakeTimeout};
pub use layer::{TlsClientLayer, TlsServerLayer};
pub use reload::TlsConfigHandle;
pub use server::TlsServer;
pub use stream::TlsStream;
