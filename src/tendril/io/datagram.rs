//! [`Datagrams`]: one peer's datagrams as a connectionless transport hands them to the
//! engine, and [`DatagramIo`], the frame transport the driver runs on them.
//!
//! A datagram may hold several frames, and a frame never spans datagrams: what is left
//! at the end of a datagram goes to the receive framer's `decode_eof`, so an
//! unfinished frame is a framing error. Each frame sent is one datagram. An empty
//! datagram is an empty frame for the identity framer (a datagram is a frame there).

use std::collections::VecDeque;
use std::io;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::frame_io::Moved;
use super::FrameIo;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::wrap::BoxIo;

/// Encoded datagrams a peer may hold before its driver waits for the transport.
const OUTBOUND_DATAGRAMS: usize = 32;

/// One peer's datagrams: what a connectionless transport (the UDP manager's router, a
/// plug-in's) gives `Engine::serve_datagrams`
/// for each peer it tracks. The engine frames them, runs the peer's application and
/// sends its replies back through [`poll_send`](Self::poll_send).
///
/// A transport usually routes datagrams by source to a bounded queue per peer, and
/// `poll_recv` reads that queue; dropping the value is how the transport learns the
/// connection ended (forget the peer then).
pub trait Datagrams: Send + Unpin + 'static {
    /// The peer's next datagram; `Ok(None)` once the peer is gone (its connection then
    /// closes as ended by the peer), an error to close it with that error.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<BytesMut>>>;

    /// Sends one datagram to the peer: `Ready(Ok(()))` once it is sent (or dropped
    /// for an error that concerns this datagram only, which the transport counts),
    /// `Pending` while the transport has no room, an error to close the connection.
    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>>;

    /// Sends some of a run of datagrams of `segment` bytes each, laid end to end in
    /// `datagrams` (the last may be shorter): `Ready(Ok(bytes))` with how many bytes'
    /// worth of whole datagrams went (at least the first), otherwise as
    /// [`poll_send`](Self::poll_send). What the engine calls, with every run of
    /// equal-size replies waiting for the peer; the default sends the first datagram
    /// alone. A transport with segmentation offload (UDP GSO) sends the run in one
    /// system call.
    fn poll_send_run(
        &mut self,
        cx: &mut Context<'_>,
        datagrams: &[u8],
        segment: usize,
    ) -> Poll<io::Result<usize>> {
        let first = &datagrams[..segment.min(datagrams.len())];
        self.poll_send(cx, first).map_ok(|()| first.len())
    }
}

/// How many datagrams of a run of `segment`-byte ones `bytes` stand for: the whole
/// ones, at least one (an empty datagram is one).
pub(crate) fn whole_datagrams(bytes: usize, segment: usize) -> usize {
    if segment == 0 {
        1
    } else {
        bytes.div_ceil(segment).max(1)
    }
}

/// The frame transport of a datagram peer.
pub(crate) struct DatagramIo<D, In, Out> {
    datagrams: D,
    framers: FramerSwitch<In, Out>,
    /// The rest of the datagram being decoded: frames never span datagrams.
    current: BytesMut,
    /// The encoded datagrams not yet sent, end to end (so that a run of them can go
    /// in one call), and their lengths, in order.
    outbound: BytesMut,
    lengths: VecDeque<usize>,
    moved: Moved,
}

impl<D, In, Out> DatagramIo<D, In, Out> {
    pub(crate) fn new(datagrams: D, framers: FramerSwitch<In, Out>) -> Self {
        DatagramIo {
            datagrams,
            framers,
            current: BytesMut::new(),
            outbound: BytesMut::new(),
            lengths: VecDeque::new(),
            moved: Moved::default(),
        }
    }
}

impl<D: Datagrams, In: Send + 'static, Out: Send + 'static> FrameIo<In, Out>
    for DatagramIo<D, In, Out>
{
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
            match ready!(self.datagrams.poll_recv(cx))? {
                Some(datagram) if datagram.is_empty() => {
                    // An empty datagram is an empty frame where a datagram is a frame.
                    if let Some(frame) = self.framers.recv_framer().empty_datagram_frame() {
                        return Poll::Ready(Ok(Some(frame)));
                    }
                }
                Some(datagram) => {
                    self.moved.read(datagram.len() as u64);
                    self.current = datagram;
                }
                None => return Poll::Ready(Ok(None)),
            }
        }
    }

    fn encode(&mut self, frame: Out) -> Result<(), Error> {
        let before = self.outbound.len();
        if let Err(err) = self.framers.encode(frame, &mut self.outbound) {
            // Whatever the failed encoder wrote is no datagram.
            self.outbound.truncate(before);
            return Err(err);
        }
        self.lengths.push_back(self.outbound.len() - before);
        Ok(())
    }

    fn write_full(&self) -> bool {
        self.lengths.len() >= OUTBOUND_DATAGRAMS
    }

    fn write_idle(&self) -> bool {
        self.lengths.is_empty()
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while let Some(&segment) = self.lengths.front() {
            // The run of datagrams as long as the first (an empty one goes alone).
            let run = if segment == 0 {
                1
            } else {
                self.lengths
                    .iter()
                    .take_while(|&&len| len == segment)
                    .count()
            };
            // The lengths add up to the buffer: the run is all there.
            let datagrams = &self.outbound[..segment * run];
            let sent = ready!(self.datagrams.poll_send_run(cx, datagrams, segment))?;
            let count = whole_datagrams(sent, segment).min(run);
            let sent = count * segment;
            self.moved.written(sent as u64);
            self.outbound.advance(sent);
            self.lengths.drain(..count);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_flush(cx)
    }

    fn buffered(&self) -> usize {
        // A datagram is whole when it comes: never a frame being assembled.
        0
    }

    fn moved(&self) -> &Moved {
        &self.moved
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
        if self.outbound.is_empty() {
            self.outbound = BytesMut::new();
        }
    }
}
