//! The UDP receive loop: routes each datagram by source address to its peer's
//! connection, creating peers through the acceptor on first contact.
//!
//! The loop owns its peer map, so routing a datagram takes no lock; the manager's
//! connection table (locked only when a peer comes or goes) bounds the peers.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::Error;
use crate::manager::stats::Counters;
use crate::manager::Core;

/// Room kept free in the receive buffer: the largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// Creates the connection for a new peer from its inbound queue; `None` when the
/// acceptor is not ready (the datagram is dropped).
pub(crate) type Spawner = Box<
    dyn FnMut(SocketAddr, mpsc::Receiver<Bytes>) -> Option<oneshot::Receiver<Result<(), Error>>>
        + Send,
>;

/// A peer made by `connect`, so that its replies reach it.
pub(crate) struct Registration {
    pub(crate) peer: SocketAddr,
    pub(crate) inbound: mpsc::Sender<Bytes>,
    pub(crate) done: oneshot::Sender<()>,
}

/// How the manager talks to its receive loop.
pub(crate) struct Channels {
    pub(crate) registrations: mpsc::Receiver<Registration>,
    pub(crate) stop: mpsc::Receiver<()>,
}

pub(crate) struct Settings {
    pub(crate) inbound_queue: usize,
    pub(crate) reject_ttl: Duration,
    pub(crate) max_consecutive_errors: u32,
}

pub(crate) struct Router {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) core: Arc<Core>,
    pub(crate) spawner: Option<Spawner>,
    pub(crate) settings: Settings,
    pub(crate) accepting: Arc<AtomicBool>,
    registrations: mpsc::Receiver<Registration>,
    stop: mpsc::Receiver<()>,
    pub(crate) failure: Arc<Mutex<Option<Arc<Error>>>>,
    peers: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    rejected: HashMap<SocketAddr, Instant>,
    rejections: (mpsc::Sender<SocketAddr>, mpsc::Receiver<SocketAddr>),
}

/// Receive errors that concern one datagram (or an ICMP error about an earlier send).
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || err.raw_os_error() == Some(105) // ENOBUFS on Linux
}

impl Router {
    pub(crate) fn new(
        socket: Arc<UdpSocket>,
        core: Arc<Core>,
        spawner: Option<Spawner>,
        settings: Settings,
        accepting: Arc<AtomicBool>,
        channels: Channels,
        failure: Arc<Mutex<Option<Arc<Error>>>>,
    ) -> Self {
        let rejections = mpsc::channel(1024);
        Router {
            socket,
            core,
            spawner,
            settings,
            accepting,
            registrations: channels.registrations,
            stop: channels.stop,
            failure,
            peers: HashMap::new(),
            rejected: HashMap::new(),
            rejections,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut buf = BytesMut::with_capacity(MAX_DATAGRAM);
        let mut consecutive_errors = 0;
        // Once every manager handle is gone, a listening manager goes on (as a TCP
        // listener does); a connect-only one serves its remaining peers (connections
        // outlive their manager handle) and ends with the last of them.
        let mut orphaned = false;
        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            if orphaned && self.spawner.is_none() && self.core.is_empty() {
                break;
            }
            if buf.capacity() - buf.len() < MAX_DATAGRAM {
                buf.reserve(MAX_DATAGRAM);
            }
            let received = tokio::select! {
                biased;
                stop = self.stop.recv(), if !orphaned => match stop {
                    Some(()) => break,
                    None => {
                        orphaned = true;
                        continue;
                    }
                },
                _ = check.tick(), if orphaned && self.spawner.is_none() => continue,
                Some(registration) = self.registrations.recv() => {
                    self.peers.insert(registration.peer, registration.inbound);
                    let _ = registration.done.send(());
                    continue;
                }
                Some(peer) = self.rejections.1.recv() => {
                    self.remember_rejection(peer);
                    continue;
                }
                received = self.socket.recv_buf_from(&mut buf) => received,
            };
            match received {
                Ok((len, from)) => {
                    consecutive_errors = 0;
                    let datagram = buf.split_to(len).freeze();
                    self.route(from, datagram);
                }
                Err(err) if is_transient(&err) => {
                    Counters::bump(&self.core.counters.accept_errors);
                    tracing::debug!(error = %err, "udp receive error survived");
                }
                Err(err) => {
                    Counters::bump(&self.core.counters.accept_errors);
                    consecutive_errors += 1;
                    tracing::warn!(error = %err, consecutive_errors, "udp receive failed");
                    if consecutive_errors > self.settings.max_consecutive_errors {
                        tracing::error!(error = %err, "too many consecutive receive errors: the manager stops");
                        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(Arc::new(err.into()));
                        self.accepting.store(false, Ordering::Release);
                        self.core.shutdown();
                        break;
                    }
                }
            }
        }
        tracing::debug!("udp manager stopped receiving");
    }

    fn route(&mut self, from: SocketAddr, datagram: Bytes) {
        let counters = &self.core.counters;
        Counters::bump(&counters.datagrams_in);
        let datagram = match self.peers.get(&from) {
            Some(inbound) => match inbound.try_send(datagram) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    Counters::bump(&counters.dropped_queue_full);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(datagram)) => {
                    // That peer's connection ended: this is a new contact.
                    self.peers.remove(&from);
                    datagram
                }
            },
            None => datagram,
        };
        self.new_peer(from, datagram);
    }

    fn new_peer(&mut self, from: SocketAddr, datagram: Bytes) {
        let dropped = &self.core.counters.dropped_table_full;
        if let Some(at) = self.rejected.get(&from) {
            if at.elapsed() < self.settings.reject_ttl {
                Counters::bump(dropped);
                return;
            }
            self.rejected.remove(&from);
        }
        let accepting = self.accepting.load(Ordering::Acquire);
        let Some(spawner) = self.spawner.as_mut().filter(|_| accepting) else {
            Counters::bump(dropped);
            return;
        };
        if self.core.at_capacity() {
            Counters::bump(dropped);
            // Forget peers whose connections ended, so the map tracks the table.
            self.peers.retain(|_, inbound| !inbound.is_closed());
            return;
        }
        let (inbound, receiver) = mpsc::channel(self.settings.inbound_queue.max(1));
        let _ = inbound.try_send(datagram);
        let Some(accepted) = spawner(from, receiver) else {
            Counters::bump(dropped);
            return;
        };
        self.peers.insert(from, inbound);
        let rejections = self.rejections.0.clone();
        tokio::spawn(async move {
            if let Ok(Err(_)) = accepted.await {
                let _ = rejections.try_send(from);
            }
        });
    }

    fn remember_rejection(&mut self, peer: SocketAddr) {
        let limit = self.core.max_connections.max(1);
        if self.rejected.len() >= limit {
            let ttl = self.settings.reject_ttl;
            self.rejected.retain(|_, at| at.elapsed() < ttl);
        }
        if self.rejected.len() < limit {
            self.rejected.insert(peer, Instant::now());
        }
    }
}
