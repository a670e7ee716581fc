//! How a connection ended.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// How and why a connection closed.
///
/// The original Tendril (the Python library this crate carries to Rust) tells an
/// application that its connection ended by calling its `closed(error)` method, with
/// `None` for an orderly end (the peer closed, or this side did) and an exception for
/// a failure. [`CloseReason::is_error`] keeps that distinction: `PeerClosed`, `Local`,
/// `Rejected`, `Idle`, `Shed` and the other orderly reasons are what `closed(None)`
/// was.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer ended the stream (end of file) and every reply was written.
    PeerClosed,
    /// Closed from this side: [`Tendril::close`](crate::Tendril::close), or the
    /// manager's stop, shutdown or graceful shutdown.
    Local,
    /// The acceptor refused the connection; no frame was read.
    Rejected,
    /// No frame came or went for the idle timeout
    /// ([`ConnectionConfig::idle_timeout`](crate::ConnectionConfig::idle_timeout)).
    Idle,
    /// Shed to make room for a newcomer when a bound was full: an idle connection
    /// when `max_connections` were held, a quiet UDP peer in a one-datagram exchange
    /// when the peer table was full (see
    /// `Builder::shed_idle_after`). Its
    /// calls in flight were answered; nothing it had sent was lost.
    Shed,
    /// An error: framing, I/O, or an application error or panic.
    /// The [`Error`] predicates tell which.
    Error(Arc<Error>),
}

impl CloseReason {
    pub(crate) fn error(err: Error) -> Self {
        CloseReason::Error(Arc::new(err))
    }

    /// True if the connection ended with an error.
    pub fn is_error(&self) -> bool {
        matches!(self, CloseReason::Error(_))
    }

    /// The error, if the connection ended with one.
    pub fn as_error(&self) -> Option<&Error> {
        match self {
            CloseReason::Error(err) => Some(err),
            _ => None,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("closed by the peer"),
            CloseReason::Local => f.write_str("closed locally"),
            CloseReason::Rejected => f.write_str("rejected by the acceptor"),
            CloseReason::Idle => f.write_str("closed after the idle timeout"),
            CloseReason::Shed => f.write_str("shed to make room for a newcomer"),
            // The whole chain, each cause once: a reason is read by people (`closed:
            // {reason}`), and it says everything itself, so it has no `source`.
            CloseReason::Error(err) => write!(f, "{:#}", **err),
        }
    }
}

/// A reason says its whole chain in its `Display` ("framing error: line longer than
/// 65536 bytes"), so its `source()` is `None` and an error caused by it (the
/// `Error::closed_by` a client's calls fail with) says the chain once. Its error
/// itself, with the error's own causes, is [`CloseReason::as_error`].
impl std::error::Error for CloseReason {}
