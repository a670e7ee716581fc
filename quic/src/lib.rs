#![warn(missing_docs)]
#![forbid(unsafe_code)]

//! QUIC for tendril-net: every bidirectional stream a connection.
//!
//! A [`QuicManager`] is a tendril-net manager written outside the crate, on its
//! public plug-in API (an [`Engine`](tendril_net::manager::Engine), `Engine::serve` for
//! each stream, the [`Manager`] and
//! [`Connect`](tendril_net::Connect) traits): each bidirectional stream of each QUIC
//! connection is a [`Tendril`](tendril_net::Tendril) with its own framers, its own
//! application from the acceptor, the same handle, bounds, counters and shutdown as
//! a TCP connection. A stream's [`Tendril::remote`](tendril_net::Tendril::remote) is
//! an [`Addr::Stream`] (the peer's address, the connection's
//! stable id, the stream's id), its [`tls`](tendril_net::Tendril::tls) the QUIC
//! connection's TLS session (ALPN, server name, peer certificates).
//!
//! Closing maps onto QUIC: a Tendril's `close` finishes its stream (`FIN`) after its
//! replies; `close_with(ErrorCode(n))` (any other error: [`ErrorCode::INTERNAL`])
//! resets it (`RESET_STREAM`) and stops its input (`STOP_SENDING`); a peer's reset or
//! stop closes the Tendril with an I/O error carrying the peer's code; a connection
//! lost closes all its streams with that reason. A graceful shutdown stops accepting
//! (new attempts are refused), lets the streams finish within the deadline, then
//! closes every connection with code 0.
//!
//! Bounds: [`Quic::max_connections`], [`Quic::max_handshakes`] (more are refused),
//! [`Quic::retry_above`] (address validation once handshakes pile up, so a flood of
//! Initial packets from spoofed sources costs a stateless Retry each),
//! [`Quic::handshake_timeout`], [`Quic::max_streams`] (streams per connection, by
//! QUIC's stream credit: a peer opening more waits, none is dropped),
//! [`Quic::idle_timeout`]; the streams, as any connections, by the manager's builder
//! (`max_connections` there counts streams, the memory budget covers them all).
//! Unidirectional streams ([`Quic::uni_streams`]) and datagrams ([`Quic::datagrams`],
//! RFC 9221) are off by default (the peer gets no credit for them): most protocols on
//! QUIC need neither, and each served one is a Tendril more per connection. Turned on,
//! each unidirectional stream the peer opens is a receive-only Tendril and a
//! connection's datagrams one datagram Tendril, through the same acceptor.
//!
//! Clients: tendril-net's `Client` (pipelined or multiplexed) over one stream, through
//! [`Connect`](tendril_net::Connect) with a [`QuicTarget`]; or [`StreamPerRequest`],
//! a `tower::Service` that opens a stream per call (DNS over QUIC), its readiness the
//! connection's stream credit.

mod accept;
mod manager;
mod options;
mod request;
mod stats;
mod stream;

pub use manager::{QuicManager, QuicTarget};
pub use options::Quic;
pub use request::{ResponseFuture, StreamPerRequest, DEFAULT_MAX_RESPONSE};
pub use stats::QuicStats;
pub use stream::{is_receive_only, ErrorCode, DATAGRAMS};

/// The rustls this crate's TLS configurations are (`rustls::ServerConfig` for
/// [`Quic::server_tls`], `rustls::ClientConfig` for [`Quic::client_tls`]).
pub use rustls;

use std::net::SocketAddr;
use std::sync::Arc;

use tendril_net::{Addr, Error, Manager, Registry};

/// Registers QUIC in `registry` under `"quic"`: `get_manager("quic", addr)` then makes
/// a [`QuicManager`] with the options `options(addr)` gives (its TLS, at least).
pub fn register<F>(registry: &Registry, options: F)
where
    F: Fn(SocketAddr) -> Result<Quic, Error> + Send + Sync + 'static,
{
    registry.register(
        "quic",
        move |endpoint: &Addr| -> Result<Arc<dyn Manager>, Error> {
            let addr = SocketAddr::try_from(endpoint)?;
            Ok(Arc::new(QuicManager::new(options(addr)?)))
        },
    );
}
