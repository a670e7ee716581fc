//! [`Bounds`]: what a manager bounds across all its connections.

use std::time::Duration;

use crate::tendril::io::budget::DEFAULT_BUDGET;

/// What a manager bounds across all its connections (the per-connection bounds are in
/// [`ConnectionConfig`](crate::ConnectionConfig)). Set through
/// [`Builder`](crate::manager::Builder); a plug-in transport passes them to
/// [`Engine::new`](super::Engine::new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bounds {
    /// Connections held at once, closing ones included (for a datagram transport, the
    /// peers it tracks).
    pub max_connections: usize,
    /// Bytes all connections' buffers may hold beyond 16 KiB of read and 16 KiB of
    /// write buffer each (see
    /// [`Builder::memory_budget`](crate::manager::Builder::memory_budget)).
    pub memory_budget: usize,
    /// With the table full, a newcomer sheds the connection idle longest if it has
    /// been idle this long (`None`: newcomers are refused). See
    /// [`Builder::shed_idle_after`](crate::manager::Builder::shed_idle_after).
    pub shed_idle_after: Option<Duration>,
}

impl Bounds {
    /// At most `max_connections`, a 256 MiB memory budget, and connections idle for
    /// `shed_idle_after` shed for newcomers when the table is full.
    pub fn new(max_connections: usize, shed_idle_after: Option<Duration>) -> Self {
        Bounds {
            max_connections,
            memory_budget: DEFAULT_BUDGET,
            shed_idle_after,
        }
    }
}
