//! [`Stats`]: a manager's counters, the same for every transport (a transport's own,
//! such as UDP's datagram counts, are its manager's: `UdpManager::udp_stats`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::tendril::traffic::Totals;
use crate::tendril::CloseReason;

/// The engine's counters. Traffic (`frames_*`, `bytes_*`) counts the connections that
/// closed; live connections keep their own, summed at snapshot time.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) total: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) refused_source: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) closed_by_peer: AtomicU64,
    pub(crate) closed_locally: AtomicU64,
    pub(crate) closed_idle: AtomicU64,
    pub(crate) shed_idle: AtomicU64,
    pub(crate) shed_memory: AtomicU64,
    pub(crate) shed_handshakes: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) wrapping: AtomicU64,
    pub(crate) wrap_failed: AtomicU64,
    pub(crate) proxy_ignored: AtomicU64,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    call_timeouts: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts how a connection closed.
    pub(crate) fn closed(&self, reason: &CloseReason) {
        let counter = match reason {
            CloseReason::Error(err) => {
                if err.is_wrap() {
                    self.wrap_failed(&**err);
                }
                if err.is_limit() {
                    Counters::bump(&self.shed_memory);
                }
                &self.failed
            }
            CloseReason::Idle => &self.closed_idle,
            CloseReason::Shed => &self.shed_idle,
            CloseReason::PeerClosed => &self.closed_by_peer,
            CloseReason::Local => &self.closed_locally,
            _ => return,
        };
        Counters::bump(counter);
    }

    /// Counts a wrapper's failure (at accept or connect time, or a live wrap): a TLS
    /// handshake shed for a newcomer is counted as shed too.
    pub(crate) fn wrap_failed(&self, err: &(dyn std::error::Error + 'static)) {
        Counters::bump(&self.wrap_failed);
        if is_handshake_shed(err) {
            Counters::bump(&self.shed_handshakes);
        }
    }

    /// Adds a closed connection's traffic.
    pub(crate) fn add_closed(&self, traffic: Totals) {
        let add = |counter: &AtomicU64, value: u64| {
            if value > 0 {
                counter.fetch_add(value, Ordering::Relaxed);
            }
        };
        add(&self.frames_in, traffic.frames_in);
        add(&self.frames_out, traffic.frames_out);
        add(&self.bytes_in, traffic.bytes_in);
        add(&self.bytes_out, traffic.bytes_out);
        add(&self.call_timeouts, traffic.call_timeouts);
    }

    /// The counters, with the connections held (`closing` of them closing), their
    /// traffic `live`, and the memory budget in use.
    pub(crate) fn snapshot(
        &self,
        held: usize,
        closing: usize,
        live: Totals,
        budget_used: usize,
    ) -> Stats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            open: held as u64,
            closing: closing as u64,
            total: get(&self.total),
            rejected: get(&self.rejected),
            refused: get(&self.refused),
            refused_source: get(&self.refused_source),
            failed: get(&self.failed),
            closed_by_peer: get(&self.closed_by_peer),
            closed_locally: get(&self.closed_locally),
            closed_idle: get(&self.closed_idle),
            shed_idle: get(&self.shed_idle),
            shed_memory: get(&self.shed_memory),
            shed_handshakes: get(&self.shed_handshakes),
            accept_errors: get(&self.accept_errors),
            wrapping: get(&self.wrapping),
            wrap_failed: get(&self.wrap_failed),
            proxy_ignored: get(&self.proxy_ignored),
            budget_used: budget_used as u64,
            frames_in: get(&self.frames_in) + live.frames_in,
            frames_out: get(&self.frames_out) + live.frames_out,
            bytes_in: get(&self.bytes_in) + live.bytes_in,
            bytes_out: get(&self.bytes_out) + live.bytes_out,
            call_timeouts: get(&self.call_timeouts) + live.call_timeouts,
        }
    }
}

/// True if a wrapper's error is a TLS handshake or a PROXY header wait shed for a
/// newcomer.
fn is_handshake_shed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        #[cfg(feature = "tls")]
        if err.is::<crate::wrap::HandshakeShed>() {
            return true;
        }
        #[cfg(feature = "proxy-protocol")]
        if matches!(
            err.downcast_ref::<crate::wrap::ProxyError>(),
            Some(crate::wrap::ProxyError::Shed)
        ) {
            return true;
        }
        cause = err.source();
    }
    false
}

/// A snapshot of a manager's counters, the same for every transport. `Display` prints
/// every field as one line of `name=value` pairs, in declaration order, named as the
/// fields are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections held now: open ones, and closing ones whose socket is still being
    /// flushed or lingering (they count against `max_connections`).
    pub open: u64,
    /// Of `open`, the connections closing.
    pub closing: u64,
    /// Connections accepted or made since the manager was created.
    pub total: u64,
    /// Connections the acceptor refused.
    pub rejected: u64,
    /// Connections closed at once because `max_connections` were held and none could
    /// be shed (or, with other sources holding less, theirs held its fair share).
    pub refused: u64,
    /// Connections (UDP: new peers) refused by a per-source limit
    /// ([`Builder::max_per_source`](crate::manager::Builder::max_per_source),
    /// [`Builder::source_rate`](crate::manager::Builder::source_rate)).
    pub refused_source: u64,
    /// Connections that ended with an error.
    pub failed: u64,
    /// Connections the peer ended (end of stream), every reply written.
    pub closed_by_peer: u64,
    /// Connections closed from this side (`Tendril::close`, stop, shutdown).
    pub closed_locally: u64,
    /// Connections closed by the idle timeout ([`CloseReason::Idle`]).
    pub closed_idle: u64,
    /// Connections shed to make room for a newcomer ([`CloseReason::Shed`]): idle
    /// ones when `max_connections` were held, or those of the source holding the most
    /// for a newcomer below its fair share, quiet UDP peers when the peer table was
    /// full (see [`Builder::shed_idle_after`](crate::manager::Builder::shed_idle_after)).
    pub shed_idle: u64,
    /// Connections shed because the memory budget ran short while they held more than
    /// their share ([`MemoryBudget`](crate::MemoryBudget)); also counted in `failed`.
    pub shed_memory: u64,
    /// TLS handshakes and PROXY header waits shed for a newcomer when every slot was
    /// taken (`HandshakeShed`, `ProxyError::Shed`); also counted in `wrap_failed`.
    pub shed_handshakes: u64,
    /// Accept calls that failed (for example with EMFILE) and were retried.
    pub accept_errors: u64,
    /// Accepted connections being wrapped now (TLS handshakes in progress); they count
    /// against `max_connections`.
    pub wrapping: u64,
    /// Wrapper failures (handshake errors and timeouts, plaintext injected before a
    /// live wrap): at accept and connect time, and on live connections.
    pub wrap_failed: u64,
    /// PROXY protocol headers read from sources outside the trusted networks and
    /// ignored (an optional header: the connection keeps its socket's addresses).
    pub proxy_ignored: u64,
    /// Bytes of the memory budget in use now (a gauge): what the connections' buffers
    /// hold beyond their uncounted chunks.
    pub budget_used: u64,
    /// Frames decoded.
    pub frames_in: u64,
    /// Frames encoded.
    pub frames_out: u64,
    /// Bytes read (as the framers see them: the plaintext of TLS connections).
    pub bytes_in: u64,
    /// Bytes written (as the framers produce them).
    pub bytes_out: u64,
    /// Calls dropped unanswered by the call timeout (completion order; in request
    /// order the connection closes and counts as failed).
    pub call_timeouts: u64,
}

impl Stats {
    /// Every field as (name, value), in declaration order.
    pub(crate) fn fields(&self) -> [(&'static str, u64); 23] {
        [
            ("open", self.open),
            ("closing", self.closing),
            ("total", self.total),
            ("rejected", self.rejected),
            ("refused", self.refused),
            ("refused_source", self.refused_source),
            ("failed", self.failed),
            ("closed_by_peer", self.closed_by_peer),
            ("closed_locally", self.closed_locally),
            ("closed_idle", self.closed_idle),
            ("shed_idle", self.shed_idle),
            ("shed_memory", self.shed_memory),
            ("shed_handshakes", self.shed_handshakes),
            ("accept_errors", self.accept_errors),
            ("wrapping", self.wrapping),
            ("wrap_failed", self.wrap_failed),
            ("proxy_ignored", self.proxy_ignored),
            ("budget_used", self.budget_used),
            ("frames_in", self.frames_in),
            ("frames_out", self.frames_out),
            ("bytes_in", self.bytes_in),
            ("bytes_out", self.bytes_out),
            ("call_timeouts", self.call_timeouts),
        ]
    }
}

/// `name=value` pairs separated by spaces, as [`Stats`] and the transports' own stats
/// print.
pub(crate) fn write_fields(f: &mut fmt::Formatter<'_>, fields: &[(&str, u64)]) -> fmt::Result {
    for (i, (name, value)) in fields.iter().enumerate() {
        let gap = if i == 0 { "" } else { " " };
        write!(f, "{gap}{name}={value}")?;
    }
    Ok(())
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(f, &self.fields())
    }
}
