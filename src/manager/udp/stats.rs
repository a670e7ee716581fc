//! [`UdpStats`]: the counters only UDP has (its datagrams, its peer table's drops).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::manager::engine::write_fields;

/// UDP's own counters, beside the engine's [`Stats`](crate::Stats) (connections,
/// frames, bytes, closes, which count each peer as a connection). `Display` prints
/// every field as `name=value` pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpStats {
    /// Peers the receive loop routes datagrams to now (a peer leaves as soon as its
    /// connection ends; `Stats::open` may count more while replies are flushed).
    pub peers: u64,
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Datagrams dropped because their peer's inbound queue was full.
    pub dropped_queue_full: u64,
    /// Datagrams from new peers dropped because the peer table was full (and no peer
    /// could be shed), the peer was recently rejected, or no acceptor was set.
    pub dropped_table_full: u64,
    /// Datagrams from new peers dropped because their source held
    /// `max_per_source` tracked peers or exceeded `source_rate` (the peer is not
    /// tracked).
    pub dropped_source: u64,
    /// Datagrams the kernel dropped for the socket because its receive buffer was
    /// full (Linux: the socket's `drops` in `/proc/net/udp`; 0 elsewhere): the drops
    /// the crate cannot see by itself. Raise
    /// [`recv_buffer_size`](crate::manager::Builder::recv_buffer_size).
    pub dropped_kernel: u64,
    /// The receive buffer the kernel granted the socket (`SO_RCVBUF` as read back,
    /// bytes; Linux reports twice what it keeps for datagrams).
    pub receive_buffer: u64,
    /// Datagrams waiting in all peers' inbound queues now (a gauge; bounded by
    /// `inbound_budget`).
    pub queued: u64,
    /// Receive errors survived (ICMP port unreachable, ENOBUFS, ...).
    pub receive_errors: u64,
    /// Datagrams not sent because of an error that concerned them only.
    pub send_errors: u64,
}

impl fmt::Display for UdpStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("peers", self.peers),
                ("datagrams_in", self.datagrams_in),
                ("datagrams_out", self.datagrams_out),
                ("dropped_queue_full", self.dropped_queue_full),
                ("dropped_table_full", self.dropped_table_full),
                ("dropped_source", self.dropped_source),
                ("dropped_kernel", self.dropped_kernel),
                ("receive_buffer", self.receive_buffer),
                ("queued", self.queued),
                ("receive_errors", self.receive_errors),
                ("send_errors", self.send_errors),
            ],
        )
    }
}

/// The counters behind [`UdpStats`], shared by the receive loop and the peers.
#[derive(Debug, Default)]
pub(crate) struct UdpCounters {
    pub(crate) peers: AtomicU64,
    pub(crate) datagrams_in: AtomicU64,
    pub(crate) datagrams_out: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_table_full: AtomicU64,
    pub(crate) dropped_source: AtomicU64,
    pub(crate) dropped_kernel: AtomicU64,
    pub(crate) receive_buffer: AtomicU64,
    /// Datagrams in the peers' queues: the receive loop adds, each peer takes away.
    pub(crate) queued: AtomicU64,
    pub(crate) receive_errors: AtomicU64,
    pub(crate) send_errors: AtomicU64,
}

impl UdpCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> UdpStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        UdpStats {
            peers: get(&self.peers),
            datagrams_in: get(&self.datagrams_in),
            datagrams_out: get(&self.datagrams_out),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_table_full: get(&self.dropped_table_full),
            dropped_source: get(&self.dropped_source),
            dropped_kernel: get(&self.dropped_kernel),
            receive_buffer: get(&self.receive_buffer),
            queued: get(&self.queued),
            receive_errors: get(&self.receive_errors),
            send_errors: get(&self.send_errors),
        }
    }
}
