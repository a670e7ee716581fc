//! [`ProxyError`]: why a PROXY header was refused.

use std::fmt;
use std::io;
use std::net::SocketAddr;
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
    /// The connection comes from an address outside the trusted balancers (and the
    /// header is required): refused without reading.
    Untrusted(Option<SocketAddr>),
    /// The wait for the header was shed to make room for a newcomer: every slot was
    /// taken, and this one had waited longest without a byte (or, past its first
    /// byte, for more than a second).
    Shed,
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
            ProxyError::Untrusted(Some(addr)) => write!(
                f,
                "{} is not a trusted source of PROXY protocol headers",
                addr.ip()
            ),
            ProxyError::Untrusted(None) => {
                f.write_str("a peer without an IP address is not a trusted source of PROXY protocol headers")
            }
            ProxyError::Shed => f.write_str(
                "PROXY protocol header wait shed: every slot was taken and this one made no progress",
            ),
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
