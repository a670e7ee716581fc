//! One UDP peer's frame transport: datagrams in from the manager's receive loop, one
//! datagram out per frame through the shared socket.
//!
//! Sending: every peer's driver sends on the one socket, so none may rely on the
//! socket's single waker slot (`poll_send_to` keeps only the last task registered, and
//! when the send buffer fills every other peer would stall). A peer tries
//! `try_send_to`, and when the socket is full waits on `writable()`, whose waiters are
//! a list: all of them are woken when there is room.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::ReusableBoxFuture;

use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::manager::stats::Counters;
use crate::manager::Core;
use crate::tendril::io::FrameIo;
use crate::wrap::BoxIo;

/// Encoded datagrams a peer may hold before its driver waits for the socket.
const OUTBOUND_DATAGRAMS: usize = 16;

/// What a peer's transport is made of.
pub(crate) struct PeerParts {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) peer: SocketAddr,
    pub(crate) inbound: mpsc::Receiver<BytesMut>,
    /// Where the peer says it has gone, with its generation.
    pub(crate) departures: mpsc::Sender<super::router::Departure>,
    pub(crate) generation: u64,
    pub(crate) core: Arc<Core>,
}

pub(crate) struct PeerIo<In, Out> {
    framers: FramerSwitch<In, Out>,
    parts: PeerParts,
    /// The rest of the datagram being decoded: frames never span datagrams.
    current: BytesMut,
    outbound: VecDeque<Bytes>,
    encoded: BytesMut,
    /// Waits for room in the socket's send buffer (made on first need, then reused).
    writable: Option<ReusableBoxFuture<'static, io::Result<()>>>,
    read: u64,
    written: u64,
    /// Bytes written since the connection began (never reset: write progress).
    written_ever: u64,
}

impl<In, Out> PeerIo<In, Out> {
    pub(crate) fn new(framers: FramerSwitch<In, Out>, parts: PeerParts) -> Self {
        PeerIo {
            framers,
            parts,
            current: BytesMut::new(),
            outbound: VecDeque::new(),
            encoded: BytesMut::new(),
            writable: None,
            read: 0,
            written: 0,
            written_ever: 0,
        }
    }
}

impl<In, Out> Drop for PeerIo<In, Out> {
    fn drop(&mut self) {
        // The receive loop forgets this peer (if the queue is full, it finds out on the
        // peer's next datagram).
        let parts = &self.parts;
        let _ = parts.departures.try_send((parts.peer, parts.generation));
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

async fn writable(socket: Arc<UdpSocket>) -> io::Result<()> {
    socket.writable().await
}

impl<In: Send + 'static, Out: Send + 'static> FrameIo<In, Out> for PeerIo<In, Out> {
    fn framers(&mut self) -> &mut FramerSwitch<In, Out> {
        &mut self.framers
    }

    fn recv_framer_changed(&mut self) {}

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<In>, Error>> {
        loop {
            if !self.current.is_empty() {
                if let Some(frame) = self.framers.decode(&mut self.current)? {
                    return Poll::Ready(Ok(Some(frame)));
                }
                // The datagram ends here: what is left must end a frame, or go.
                match self.framers.decode_eof(&mut self.current)? {
                    Some(frame) => return Poll::Ready(Ok(Some(frame))),
                    None => self.current.clear(),
                }
            }
            match ready!(self.parts.inbound.poll_recv(cx)) {
                Some(datagram) if datagram.is_empty() => {
                    // An empty datagram is an empty frame where a datagram is a frame.
                    if let Some(frame) = self.framers.recv_framer().empty_datagram_frame() {
                        return Poll::Ready(Ok(Some(frame)));
                    }
                }
                Some(datagram) => {
                    self.read += datagram.len() as u64;
                    self.current = datagram;
                }
                None => return Poll::Ready(Ok(None)),
            }
        }
    }

    fn encode(&mut self, frame: Out) -> Result<(), Error> {
        self.framers.encode(frame, &mut self.encoded)?;
        let datagram = self.encoded.split().freeze();
        self.outbound.push_back(datagram);
        Ok(())
    }

    fn write_full(&self) -> bool {
        self.outbound.len() >= OUTBOUND_DATAGRAMS
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while let Some(datagram) = self.outbound.front() {
            let parts = &self.parts;
            match parts.socket.try_send_to(datagram, parts.peer) {
                Ok(sent) => {
                    self.written += sent as u64;
                    self.written_ever += sent as u64;
                    Counters::bump(&parts.core.counters.datagrams_out);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    let socket = &parts.socket;
                    let wait = self
                        .writable
                        .get_or_insert_with(|| ReusableBoxFuture::new(writable(socket.clone())));
                    let ready = ready!(wait.poll(cx));
                    // Ready for another wait next time.
                    wait.set(writable(socket.clone()));
                    ready?;
                    continue;
                }
                Err(err) if is_transient(&err) => {
                    Counters::bump(&parts.core.counters.accept_errors);
                    tracing::debug!(error = %err, peer = %parts.peer, "datagram not sent");
                }
                Err(err) => return Poll::Ready(Err(err.into())),
            }
            self.outbound.pop_front();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_flush(cx)
    }

    fn read_ever(&self) -> u64 {
        0
    }

    fn buffered(&self) -> usize {
        // A datagram is whole when it comes: never a frame being assembled.
        0
    }

    fn written_ever(&self) -> u64 {
        self.written_ever
    }

    fn take_counts(&mut self) -> (u64, u64) {
        let counts = (self.read, self.written);
        self.read = 0;
        self.written = 0;
        counts
    }

    fn poll_discard(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // Datagrams: nothing to drain for a clean close.
        Poll::Ready(Ok(0))
    }

    fn take_io(&mut self) -> Result<BoxIo, Error> {
        Err(Error::wrap(
            "a datagram connection has no byte stream to wrap",
        ))
    }

    fn put_io(&mut self, _io: BoxIo) {}

    fn release(&mut self) {
        if self.current.is_empty() {
            self.current = BytesMut::new();
        }
        if self.encoded.is_empty() {
            self.encoded = BytesMut::new();
        }
    }
}
