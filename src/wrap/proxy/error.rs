//! [`ProxyError`]: why a PROXY header was refused.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why a stream's PROXY header was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// The stream does not start with a PROXY header (and the header is required).
    Missing,
    /// The header is malformed.
    Invalid(String),
    /// The header is longer than the bound (in bytes).
    TooLong(usize),
    /// The header did not arrive in time.
    Timeout(Duration),
    /// Reading the header failed.
    Io(io::Error),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Missing => f.write_str("no PROXY protocol header"),
            ProxyError::Invalid(why) => write!(f, "invalid PROXY protocol header: {why}"),
            ProxyError::TooLong(limit) => {
                write!(f, "PROXY protocol header longer than {limit} bytes")
            }
            ProxyError::Timeout(after) => {
                write!(f, "no PROXY protocol header within {after:?}")
            }
            ProxyError::Io(_) => f.write_str("I/O error reading the PROXY protocol header"),
        }
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProxyError::Io(err) => Some(err),
            _ => None,
        }
    }
}
