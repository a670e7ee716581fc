//! [`UdpPeer`]: one UDP peer's datagrams, as the engine serves them: in from the
//! receive loop's queue for this peer, out through the shared socket.
//!
//! Sending: every peer's driver sends on the one socket, so none may rely on the
//! socket's single waker slot (`poll_send_to` keeps only the last task registered, and
//! when the send buffer fills every other peer would stall). A peer tries
//! `try_send_to`, and when the socket is full waits on `writable()`, whose waiters are
//! a list: all of them are woken when there is room.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio_util::sync::ReusableBoxFuture;

use super::socket::Socket;
use super::stats::UdpCounters;
use crate::tendril::io::whole_datagrams;
use crate::tendril::Datagrams;

/// A peer's departure: its address and the generation of its table entry.
pub(crate) type Departure = (SocketAddr, u64);

/// One UDP peer of a [`UdpManager`](super::UdpManager): its datagrams, as the
/// manager's wrapper gets them (pass it on, or wrap it in [`Datagrams`] of your own)
/// and the engine serves them. Dropping it tells the receive loop the peer is gone.
pub struct UdpPeer {
    socket: Arc<Socket>,
    peer: SocketAddr,
    inbound: mpsc::Receiver<BytesMut>,
    /// Where the peer says it has gone, with its generation.
    departures: mpsc::Sender<Departure>,
    generation: u64,
    counters: Arc<UdpCounters>,
    /// Waits for room in the socket's send buffer (made on first need, then reused).
    writable: Option<ReusableBoxFuture<'static, io::Result<()>>>,
}

impl std::fmt::Debug for UdpPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpPeer")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl UdpPeer {
    pub(crate) fn new(
        socket: Arc<Socket>,
        peer: SocketAddr,
        inbound: mpsc::Receiver<BytesMut>,
        departures: mpsc::Sender<Departure>,
        generation: u64,
        counters: Arc<UdpCounters>,
    ) -> Self {
        UdpPeer {
            socket,
            peer,
            inbound,
            departures,
            generation,
            counters,
            writable: None,
        }
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl Drop for UdpPeer {
    fn drop(&mut self) {
        // The receive loop forgets this peer (if the queue is full, it finds out on the
        // peer's next datagram).
        let _ = self.departures.try_send((self.peer, self.generation));
        // What is left in its queue leaves the budget (closed first: nothing more
        // can come in between).
        self.inbound.close();
        let left = self.inbound.len() as u64;
        if left > 0 {
            self.counters.queued.fetch_sub(left, Ordering::Relaxed);
        }
    }
}

/// Send errors that concern one datagram only: the datagram is dropped.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::Interrupted
    ) || err.raw_os_error() == Some(105) // ENOBUFS on Linux
}

async fn writable(socket: Arc<Socket>) -> io::Result<()> {
    socket.io().writable().await
}

impl Datagrams for UdpPeer {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<BytesMut>>> {
        let datagram = ready!(self.inbound.poll_recv(cx));
        if datagram.is_some() {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        }
        Poll::Ready(Ok(datagram))
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        self.poll_send_run(cx, datagram, datagram.len())
            .map_ok(|_| ())
    }

    fn poll_send_run(
        &mut self,
        cx: &mut Context<'_>,
        datagrams: &[u8],
        segment: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.socket.try_send_run(self.peer, datagrams, segment) {
                Ok(sent) => {
                    let count = whole_datagrams(sent, segment);
                    self.counters
                        .datagrams_out
                        .fetch_add(count as u64, Ordering::Relaxed);
                    return Poll::Ready(Ok(sent));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    let socket = &self.socket;
                    let wait = self
                        .writable
                        .get_or_insert_with(|| ReusableBoxFuture::new(writable(socket.clone())));
                    let ready = ready!(wait.poll(cx));
                    // Ready for another wait next time.
                    wait.set(writable(socket.clone()));
                    ready?;
                }
                Err(err) if is_transient(&err) => {
                    // The first datagram is dropped; the rest go on the next call.
                    UdpCounters::bump(&self.counters.send_errors);
                    tracing::debug!(error = %format_args!("{err:#}"), peer = %self.peer, "datagram not sent");
                    return Poll::Ready(Ok(segment.min(datagrams.len())));
                }
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}
