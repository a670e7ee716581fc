//! The errors a connection closes with when one of its own limits ends it (the cause
//! of a [`CloseReason::Error`](super::CloseReason::Error), for
//! [`Error::cause`](crate::Error::cause) to downcast).

use std::fmt;
use std::time::Duration;

/// An application call ran longer than
/// [`ConnectionConfig::call_timeout`](super::ConnectionConfig::call_timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallTimeout {
    /// The timeout.
    pub after: Duration,
}

impl fmt::Display for CallTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an application call ran longer than {:?}", self.after)
    }
}

impl std::error::Error for CallTimeout {}

/// Output was pending and the peer took none of it for
/// [`ConnectionConfig::write_stall_timeout`](super::ConnectionConfig::write_stall_timeout):
/// a peer that does not read (while it may still be sending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteStalled {
    /// The timeout.
    pub after: Duration,
}

impl fmt::Display for WriteStalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the peer read nothing of the pending output for {:?}",
            self.after
        )
    }
}

impl std::error::Error for WriteStalled {}

/// A frame was being assembled and the peer sent less than
/// [`ReadRate::min_bytes`](super::ReadRate) of it within a
/// [`ReadRate::window`](super::ReadRate): a slowloris peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadTooSlow {
    /// Bytes that arrived in the window.
    pub received: u64,
    /// The minimum for one window.
    pub min_bytes: u64,
    /// The window.
    pub window: Duration,
}

impl fmt::Display for ReadTooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a frame grew by {} bytes in {:?}, less than the minimum of {}",
            self.received, self.window, self.min_bytes
        )
    }
}

impl std::error::Error for ReadTooSlow {}

/// The manager's memory budget ran short while this connection held more than its
/// share of it (see `Builder::memory_budget`):
/// it asked to grow past its share, or it was the largest holder when another
/// connection needed room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryBudget {
    /// Bytes its buffers held.
    pub held: usize,
    /// Its fair share then: the budget divided among the connections holding part of it.
    pub share: usize,
    /// The manager's budget.
    pub budget: usize,
}

impl fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the memory budget of {} bytes ran short while this connection held {} bytes, over its share of {}",
            self.budget, self.held, self.share
        )
    }
}

impl std::error::Error for MemoryBudget {}
