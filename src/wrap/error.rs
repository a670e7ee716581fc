//! The errors of the built-in wrappers, for callers to downcast.

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

/// A live wrap ([`Tendril::wrap`](crate::Tendril::wrap)) found bytes the peer had sent
/// after the upgrade command already received in plaintext. They are discarded, never
/// delivered, and the connection is closed: otherwise a man in the middle could inject
/// commands that the application would take as sent over the protected channel (the
/// STARTTLS command injection of CVE-2011-0411).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaintextAfterUpgrade {
    /// How many bytes were waiting.
    pub bytes: usize,
}

impl fmt::Display for PlaintextAfterUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes of plaintext arrived after the upgrade command; refusing to wrap",
            self.bytes
        )
    }
}

impl std::error::Error for PlaintextAfterUpgrade {}
