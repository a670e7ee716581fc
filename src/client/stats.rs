//! [`ClientStats`]: what a client counts.

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Frames that came with no request waiting (pipelined mode) or without a tag
    /// (multiplexed mode); handed to the unsolicited handler, or dropped if none is set.
    pub unsolicited: u64,
    /// Responses whose tag no request held (multiplexed mode), dropped.
    pub unknown_tag: u64,
    /// Responses to requests whose caller had given up (a timeout), dropped.
    pub late: u64,
}
