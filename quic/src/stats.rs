//! A QUIC manager's own counters ([`QuicStats`]).

use std::fmt;
use std::sync::atomic::AtomicU64;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) streams: AtomicU64,
}

/// A QUIC manager's own counters (its streams' are the engine's [`Stats`](tendril_net::Stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuicStats {
    /// QUIC connections open now.
    pub connections: usize,
    /// Handshakes in progress now.
    pub handshakes: usize,
    /// Connections whose handshake completed, ever.
    pub accepted: u64,
    /// Connection attempts refused (too many connections or handshakes).
    pub refused: u64,
    /// Connection attempts sent a Retry to prove their address.
    pub retried: u64,
    /// Handshakes that failed or timed out.
    pub handshake_failures: u64,
    /// Streams served, ever.
    pub streams: u64,
}

impl fmt::Display for QuicStats {
    /// One line: `quic connections=1 handshakes=0 accepted=1 refused=0 retried=0
    /// handshake_failures=0 streams=2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "quic connections={} handshakes={} accepted={} refused={} retried={} handshake_failures={} streams={}",
            self.connections,
            self.handshakes,
            self.accepted,
            self.refused,
            self.retried,
            self.handshake_failures,
            self.streams
        )
    }
}
