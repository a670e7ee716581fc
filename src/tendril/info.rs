//! [`ConnectionInfo`]: who a connection is.

use std::net::SocketAddr;
use std::sync::Arc;

use super::Addr;

/// Who a connection is: its id, transport and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    id: u64,
    transport: Arc<str>,
    local: Addr,
    remote: Addr,
}

/// The socket address of an IP transport's end, or the unspecified address for others.
fn inet_or_unspecified(addr: &Addr) -> SocketAddr {
    addr.as_inet()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

impl ConnectionInfo {
    pub(crate) fn new(id: u64, transport: Arc<str>, local: Addr, remote: Addr) -> Self {
        ConnectionInfo {
            id,
            transport,
            local,
            remote,
        }
    }

    /// An id unique among the connections of this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The transport's registered name (`"tcp"`, ...).
    pub fn transport(&self) -> &str {
        &self.transport
    }

    /// This side's socket address (IP transports; the unspecified address `0.0.0.0:0`
    /// for others, see [`local`](Self::local)).
    pub fn local_addr(&self) -> SocketAddr {
        inet_or_unspecified(&self.local)
    }

    /// The peer's socket address (IP transports; the unspecified address `0.0.0.0:0`
    /// for others, see [`remote`](Self::remote)).
    pub fn remote_addr(&self) -> SocketAddr {
        inet_or_unspecified(&self.remote)
    }

    /// This side's address, whatever the transport.
    pub fn local(&self) -> &Addr {
        &self.local
    }

    /// The peer's address, whatever the transport.
    pub fn remote(&self) -> &Addr {
        &self.remote
    }
}
