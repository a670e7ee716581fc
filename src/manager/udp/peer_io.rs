//! One UDP peer's frame transport: datagrams in from the manager's receive loop, one
//! datagram out per frame through the shared socket.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::manager::stats::Counters;
use crate::tendril::io::FrameIo;
use crate::wrap::BoxIo;

/// Encoded datagrams a peer may hold before its driver waits for the socket.
const OUTBOUND_DATAGRAMS: usize = 16;

pub(crate) struct PeerIo<In, Out> {
    framers: FramerSwitch<In, Out>,
    inbound: mpsc::Receiver<Bytes>,
    /// The rest of the datagram being decoded: frames never span datagrams.
    current: BytesMut,
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    outbound: VecDeque<Bytes>,
    encoded: BytesMut,
    counters: Arc<Counters>,
    read: u64,
    written: u64,
}

impl<In, Out> PeerIo<In, Out> {
    pub(crate) fn new(
        framers: FramerSwitch<In, Out>,
        inbound: mpsc::Receiver<Bytes>,
        socket: Arc<UdpSocket>,
        peer: SocketAddr,
        counters: Arc<Counters>,
    ) -> Self {
        PeerIo {
            framers,
            inbound,
            current: BytesMut::new(),
            socket,
            peer,
            outbound: VecDeque::new(),
            encoded: BytesMut::new(),
            counters,
            read: 0,
            written: 0,
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
            match ready!(self.inbound.poll_recv(cx)) {
                Some(datagram) => {
                    self.read += datagram.len() as u64;
                    self.current = BytesMut::from(datagram);
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
            match ready!(self.socket.poll_send_to(cx, datagram, self.peer)) {
                Ok(sent) => {
                    self.written += sent as u64;
                    self.counters.datagrams_out.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) if is_transient(&err) => {
                    Counters::bump(&self.counters.accept_errors);
                    tracing::debug!(error = %err, peer = %self.peer, "datagram not sent");
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
