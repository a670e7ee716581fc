//! One UDP peer's frame transport: datagrams in from the manager's receive loop, one
//! datagram out per frame through the shared socket.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, Stream};
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

impl<In, Out> Stream for PeerIo<In, Out> {
    type Item = Result<In, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if !this.current.is_empty() {
                match this.framers.decode(&mut this.current) {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                    Ok(None) => {}
                    Err(err) => return Poll::Ready(Some(Err(err))),
                }
                // The datagram ends here: what is left must end a frame, or go.
                match this.framers.decode_eof(&mut this.current) {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                    Ok(None) => this.current.clear(),
                    Err(err) => return Poll::Ready(Some(Err(err))),
                }
            }
            match ready!(this.inbound.poll_recv(cx)) {
                Some(datagram) => {
                    this.read += datagram.len() as u64;
                    this.current = BytesMut::from(datagram);
                }
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<In, Out> Sink<Out> for PeerIo<In, Out> {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.outbound.len() >= OUTBOUND_DATAGRAMS {
            ready!(self.as_mut().poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, frame: Out) -> Result<(), Error> {
        let this = &mut *self;
        this.framers.encode(frame, &mut this.encoded)?;
        let datagram = this.encoded.split().freeze();
        this.outbound.push_back(datagram);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = &mut *self;
        while let Some(datagram) = this.outbound.front() {
            match ready!(this.socket.poll_send_to(cx, datagram, this.peer)) {
                Ok(sent) => {
                    this.written += sent as u64;
                    this.counters.datagrams_out.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) if is_transient(&err) => {
                    Counters::bump(&this.counters.accept_errors);
                    tracing::debug!(error = %err, peer = %this.peer, "datagram not sent");
                }
                Err(err) => return Poll::Ready(Err(err.into())),
            }
            this.outbound.pop_front();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_flush(cx)
    }
}

impl<In, Out> FrameIo<In, Out> for PeerIo<In, Out> {
    fn framers(&mut self) -> &mut FramerSwitch<In, Out> {
        &mut self.framers
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
}
