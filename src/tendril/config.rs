//! Per-connection bounds and behaviour.

use std::time::Duration;

/// Bounds and behaviour of each connection of a manager.
///
/// Every bound has a default that keeps a slow or hostile peer from growing memory
/// without limit:
///
/// | setting | default | guards against |
/// |---|---|---|
/// | `outbound_queue` | 1024 frames | an application pushing to a peer that does not read |
/// | `max_in_flight` | 1 | (1 = frames delivered one at a time; more = pipelining) |
/// | `idle_timeout` | none (TCP) | peers that hold a connection open and say nothing |
/// | `linger` | 5 s | a close waiting forever to flush to a peer that does not read |
/// | `control_queue` | 64 commands | framer switches and closes piling up unapplied |
///
/// The maximum frame length is the framer's own (see [`framer`](crate::framer)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Frames an application may queue with `send_frame` before it waits
    /// (`try_send_frame` fails instead).
    pub outbound_queue: usize,
    /// Inbound frames handed to the application before earlier ones are answered.
    /// With 1 (the default) the next frame is decoded only after the previous reply
    /// was written, so a framer switch made while handling a frame applies to the very
    /// next one. Larger values pipeline; replies still go out in request order.
    pub max_in_flight: usize,
    /// Close a connection after this long without a frame in either direction.
    pub idle_timeout: Option<Duration>,
    /// How long a closing connection may take to flush what was queued before it.
    pub linger: Duration,
    /// Framer switches and close requests that may be pending at once.
    pub control_queue: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            outbound_queue: 1024,
            max_in_flight: 1,
            idle_timeout: None,
            linger: Duration::from_secs(5),
            control_queue: 64,
        }
    }
}
