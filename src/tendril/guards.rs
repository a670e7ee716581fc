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
