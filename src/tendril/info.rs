//! [`ConnectionInfo`]: who a connection is, and what its stream told about the peer.

use std::sync::Arc;

use super::addr::Addr;
use crate::wrap::{PeerCredentials, ProxyHeader, TlsInfo};

/// What the transport's stream told about a new connection's peer (through
/// [`Io`](crate::wrap::Io)): kept on its [`Tendril`](super::Tendril).
#[derive(Debug, Default)]
pub(crate) struct StreamFacts {
    pub(crate) tls: Option<TlsInfo>,
    pub(crate) peer: Option<PeerCredentials>,
    pub(crate) proxy: Option<ProxyHeader>,
}

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

    /// This side's address, whatever the transport.
    pub fn local(&self) -> &Addr {
        &self.local
    }

    /// The peer's address, whatever the transport.
    pub fn remote(&self) -> &Addr {
        &self.remote
    }
}
