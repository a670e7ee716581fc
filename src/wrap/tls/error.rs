//! The TLS wrappers' errors, for callers to downcast (the cause of a wrap failure,
//! [`Error::is_wrap`](crate::Error::is_wrap)).

use std::fmt;
use std::time::Duration;

/// A TLS handshake did not finish within the wrapper's handshake timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeTimeout {
    /// The timeout that elapsed.
    pub after: Duration,
}

impl fmt::Display for HandshakeTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS handshake timed out after {:?}", self.after)
    }
}

impl std::error::Error for HandshakeTimeout {}

/// A TLS handshake was shed to make room for a newcomer: every handshake slot was
/// taken, and this one had waited longest for the peer's ClientHello (or, past it,
/// had run for more than a second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeShed;

impl fmt::Display for HandshakeShed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TLS handshake shed: every slot was taken and this one made no progress")
    }
}

impl std::error::Error for HandshakeShed {}

/// What the TLS server's and client's failed handshakes say.
pub(super) const FAILURES: crate::wrap::handshakes::Failures = crate::wrap::handshakes::Failures {
    shed: || HandshakeShed.into(),
    timeout: |after| HandshakeTimeout { after }.into(),
};

/// The default handshake timeout: long enough for a slow mobile link, short enough
/// that a client which connects and says nothing does not hold a slot for long.
pub(super) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
