//! [`Shared`]: the state a connection's handles and its driver share.

use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use super::control::Control;
use super::info::{ConnectionInfo, StreamFacts};
use super::queue::{Queue, Signal};
use super::traffic::{Totals, Traffic};
use super::CloseReason;
use crate::wrap::{PeerCredentials, ProxyHeader, TlsInfo};

/// State shared by a connection's handles and its driver.
pub(crate) struct Shared<In, Out> {
    pub(crate) info: ConnectionInfo,
    pub(crate) queue: Queue<In, Out>,
    pub(super) closed: OnceLock<CloseReason>,
    pub(super) closed_notify: Notify,
    /// The TLS session, once a wrapper established one.
    pub(crate) tls: OnceLock<TlsInfo>,
    pub(super) peer: Option<PeerCredentials>,
    pub(super) proxy: Option<ProxyHeader>,
    pub(crate) traffic: Traffic,
    /// Written before the close if the memory budget sheds the connection.
    pub(super) shed_reply: std::sync::Mutex<Option<Box<Out>>>,
}

impl<In, Out> Shared<In, Out> {
    /// The frame to write if the memory budget sheds the connection, taken.
    pub(crate) fn take_shed_reply(&self) -> Option<Out> {
        let mut reply = self
            .shed_reply
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reply.take().map(|frame| *frame)
    }

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
            closed_notify: Notify::new(),
            tls: facts.tls.map(OnceLock::from).unwrap_or_default(),
            peer: facts.peer,
            proxy: facts.proxy,
            traffic: Traffic::default(),
            shed_reply: std::sync::Mutex::new(None),
        })
    }

    /// Publishes how the connection closed (the first reason stays) and refuses
    /// further commands.
    pub(crate) fn set_closed(&self, reason: CloseReason) {
        let _ = self.closed.set(reason);
        self.queue.close();
        self.closed_notify.notify_waiters();
    }
}

impl<In: Send, Out: Send> Control for Shared<In, Out> {
    fn traffic(&self) -> Totals {
        self.traffic.load()
    }

    fn shed_idle(&self) {
        self.queue.signal(Signal::ShedIdle);
    }

    fn shed_memory(&self) {
        self.queue.signal(Signal::ShedMemory);
    }

    fn busy(&self) -> bool {
        self.traffic.busy()
    }

    fn shutdown(&self, graceful: bool) {
        let signal = if graceful {
            Signal::Graceful
        } else {
            Signal::Abort
        };
        self.queue.signal(signal);
    }
}
