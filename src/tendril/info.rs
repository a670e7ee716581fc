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

    /// This side's socket address, for IP transports (`None` for others: see
    /// [`local`](Self::local)).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local.as_inet()
    }

    /// The peer's socket address, for IP transports (`None` for others: see
    /// [`remote`](Self::remote)).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote.as_inet()
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
