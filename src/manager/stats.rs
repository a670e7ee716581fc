//! Manager counters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::tendril::traffic::Totals;

/// The counters of a manager. Traffic (`frames_*`, `bytes_*`) counts the connections
/// that closed; live connections keep their own (see [`Core::stats`](super::Core::stats)).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) total: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) closed_by_peer: AtomicU64,
    pub(crate) closed_locally: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) wrapping: AtomicU64,
    pub(crate) wrap_failed: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) reclaimed: AtomicU64,
    pub(crate) displaced: AtomicU64,
    pub(crate) shed: AtomicU64,
    /// UDP: peers the receive loop routes to (a gauge).
    pub(crate) peers: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_table_full: AtomicU64,
    pub(crate) datagrams_in: AtomicU64,
    pub(crate) datagrams_out: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) call_timeouts: AtomicU64,
}

impl Counters {
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

    /// The counters, with the connections held (`closing` of them closing) and their
    /// traffic, `live`.
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
            failed: get(&self.failed),
            closed_by_peer: get(&self.closed_by_peer),
            closed_locally: get(&self.closed_locally),
            accept_errors: get(&self.accept_errors),
            wrapping: get(&self.wrapping),
            wrap_failed: get(&self.wrap_failed),
            evicted: get(&self.evicted),
            reclaimed: get(&self.reclaimed),
            displaced: get(&self.displaced),
            shed: get(&self.shed),
            budget_used: budget_used as u64,
            peers: get(&self.peers),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_table_full: get(&self.dropped_table_full),
            datagrams_in: get(&self.datagrams_in),
            datagrams_out: get(&self.datagrams_out),
            frames_in: get(&self.frames_in) + live.frames_in,
            frames_out: get(&self.frames_out) + live.frames_out,
            bytes_in: get(&self.bytes_in) + live.bytes_in,
            bytes_out: get(&self.bytes_out) + live.bytes_out,
            call_timeouts: get(&self.call_timeouts) + live.call_timeouts,
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of a manager's counters. `Display` prints every field as one line of
/// `name=value` pairs, in declaration order, named as the fields are.
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
    /// be displaced.
    pub refused: u64,
    /// Connections that ended with an error.
    pub failed: u64,
    /// Connections the peer ended (end of stream), every reply written.
    pub closed_by_peer: u64,
    /// Connections closed from this side (`Tendril::close`, stop, shutdown).
    pub closed_locally: u64,
    /// Accept calls that failed (for example with EMFILE) and were retried; for UDP,
    /// receive errors that were survived.
    pub accept_errors: u64,
    /// Accepted connections being wrapped now (TLS handshakes in progress); they count
    /// against `max_connections`.
    pub wrapping: u64,
    /// Wrapper failures (handshake errors and timeouts, plaintext injected before a
    /// live wrap): at accept and connect time, and on live connections.
    pub wrap_failed: u64,
    /// Connections closed by the idle timeout (UDP peers evicted, and reclaimed).
    pub evicted: u64,
    /// UDP peers that sent one datagram and went quiet, reclaimed to make room for a
    /// new peer when the table was full (they are also counted in `evicted` once their
    /// replies are out).
    pub reclaimed: u64,
    /// Idle connections closed to make room for a newcomer when `max_connections` were
    /// held (see [`Builder::displace_idle_after`](super::Builder::displace_idle_after));
    /// they are also counted in `evicted`.
    pub displaced: u64,
    /// Connections closed because the memory budget ran short while they held more
    /// than their share ([`MemoryBudget`](crate::MemoryBudget)); also counted in
    /// `failed`.
    pub shed: u64,
    /// Bytes of the memory budget in use now (a gauge): what the connections' buffers
    /// hold beyond their uncounted chunks.
    pub budget_used: u64,
    /// UDP: peers the receive loop routes datagrams to now (a peer leaves as soon as
    /// its connection ends; `open` may count more while replies are flushed).
    pub peers: u64,
    /// Datagrams dropped because their peer's inbound queue was full.
    pub dropped_queue_full: u64,
    /// Datagrams from new peers dropped because the peer table was full (or the peer
    /// was recently rejected, or no acceptor was set).
    pub dropped_table_full: u64,
    /// Datagrams received (UDP).
    pub datagrams_in: u64,
    /// Datagrams sent (UDP).
    pub datagrams_out: u64,
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

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = [
            ("open", self.open),
            ("closing", self.closing),
            ("total", self.total),
            ("rejected", self.rejected),
            ("refused", self.refused),
            ("failed", self.failed),
            ("closed_by_peer", self.closed_by_peer),
            ("closed_locally", self.closed_locally),
            ("accept_errors", self.accept_errors),
            ("wrapping", self.wrapping),
            ("wrap_failed", self.wrap_failed),
            ("evicted", self.evicted),
            ("reclaimed", self.reclaimed),
            ("displaced", self.displaced),
            ("shed", self.shed),
            ("budget_used", self.budget_used),
            ("peers", self.peers),
            ("dropped_queue_full", self.dropped_queue_full),
            ("dropped_table_full", self.dropped_table_full),
            ("datagrams_in", self.datagrams_in),
            ("datagrams_out", self.datagrams_out),
            ("frames_in", self.frames_in),
            ("frames_out", self.frames_out),
            ("bytes_in", self.bytes_in),
            ("bytes_out", self.bytes_out),
            ("call_timeouts", self.call_timeouts),
        ];
        for (i, (name, value)) in fields.iter().enumerate() {
            let gap = if i == 0 { "" } else { " " };
            write!(f, "{gap}{name}={value}")?;
        }
        Ok(())
    }
}
