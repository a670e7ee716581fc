//! The error of a refused live wrap, for callers to downcast.

use std::fmt;

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
