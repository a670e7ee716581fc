//! [`Shared`]: the state a connection's handles and its driver share.

use std::sync::{Arc, OnceLock};

use super::info::{ConnectionInfo, StreamFacts};
use super::queue::Queue;
use super::traffic::Traffic;
use super::CloseReason;
use crate::wrap::{PeerCredentials, ProxyHeader, TlsInfo};

/// State shared by a connection's handles and its driver.
pub(crate) struct Shared<In, Out> {
    pub(crate) info: ConnectionInfo,
    pub(crate) queue: Queue<In, Out>,
    pub(super) closed: OnceLock<CloseReason>,
    /// The TLS session, once a wrapper established one (boxed, as the PROXY header:
    /// most connections have neither, and every byte here is held while idle).
    pub(crate) tls: OnceLock<Box<TlsInfo>>,
    pub(super) peer: Option<PeerCredentials>,
    pub(super) proxy: Option<Box<ProxyHeader>>,
    pub(crate) traffic: Traffic,
}

impl<In, Out> Shared<In, Out> {
    /// A connection's shared state; `frame_len` sizes queued frames for the budget.
    pub(crate) fn new(
        info: ConnectionInfo,
        outbound_queue: usize,
        outbound_bytes: usize,
        frame_len: fn(&Out) -> usize,
        facts: StreamFacts,
    ) -> Arc<Self> {
        Arc::new(Shared {
            info,
            queue: Queue::new(outbound_queue, outbound_bytes, frame_len),
            closed: OnceLock::new(),
            tls: facts
                .tls
                .map(|tls| OnceLock::from(Box::new(tls)))
                .unwrap_or_default(),
            peer: facts.peer,
            proxy: facts.proxy.map(Box::new),
            traffic: Traffic::default(),
        })
    }

    /// Publishes how the connection closed (the first reason stays) and refuses
    /// further commands.
    pub(crate) fn set_closed(&self, reason: CloseReason) {
        let _ = self.closed.set(reason);
        // Wakes every `closed()` too.
        self.queue.close();
    }
}
