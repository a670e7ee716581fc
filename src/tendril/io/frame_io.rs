//! [`FrameIo`]: a connection's frame transport as its driver sees it.

use std::io;
use std::task::{Context, Poll};

use std::cell::Cell;

use super::budget::{self, Charge};
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::wrap::BoxIo;

/// Frames in, frames out, the framers to switch, and the bytes moved. Streams use a
/// [`StreamIo`](super::StreamIo), datagram transports a
/// [`DatagramIo`](super::DatagramIo).
pub(crate) trait FrameIo<In, Out>: Send + Unpin + 'static {
    /// The receive and send framers.
    fn framers(&mut self) -> &mut FramerSwitch<In, Out>;

    /// The receive framer was replaced: bytes already buffered are decoded again.
    fn recv_framer_changed(&mut self);

    /// The next frame: decoded from what is buffered, reading more when needed.
    /// `Ok(None)` once the input ended.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<In>, Error>>;

    /// After the end of input (`poll_frame` gave `None`): the error if the stream
    /// ended without its own end (an `UnexpectedEof`, a TLS peer that sent no
    /// close_notify). Its input was read and answered as at an orderly end; the close
    /// reason is this error.
    fn take_ragged_end(&mut self) -> Option<Error> {
        None
    }

    /// The input bytes the frame `poll_frame` gave last keeps counted against the
    /// memory budget (a large frame: its allocation lives on in the application's
    /// hands), for its call to hold until it ends; 0 for others.
    fn take_held(&mut self) -> usize {
        0
    }

    /// True if nothing is waiting to be written.
    fn write_idle(&self) -> bool;

    /// Drops the input read and not decoded (the connection is closing).
    fn discard_input(&mut self) {}

    /// The calls holding `bytes` of input ended: they go back to the budget.
    fn release_held(&mut self, bytes: usize) {
        let _ = bytes;
    }

    /// Encodes `frame` for sending. Never waits: the driver stops producing while
    /// [`write_full`](Self::write_full).
    fn encode(&mut self, frame: Out) -> Result<(), Error>;

    /// True while the encoded output is over its high-water mark.
    fn write_full(&self) -> bool;

    /// Writes out everything encoded.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;

    /// Flushes, then ends the output (a TCP FIN, a TLS close_notify).
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;

    /// The connection closes with `error`: true if the transport closed abortively
    /// (see `Io::abort`), and nothing is to be flushed.
    fn abort(&mut self, error: &Error) -> bool {
        let _ = error;
        false
    }

    /// The bytes it moved.
    fn moved(&self) -> &Moved;

    /// Bytes read and written since the connection began.
    #[inline]
    fn counts(&self) -> (u64, u64) {
        self.moved().ever()
    }

    /// Bytes written since the connection began: the write-stall guard's measure of
    /// progress.
    #[inline]
    fn written_ever(&self) -> u64 {
        self.moved().written_ever.get()
    }

    /// Bytes read since the connection began: the read-rate guard's measure.
    #[inline]
    fn read_ever(&self) -> u64 {
        self.moved().read_ever.get()
    }

    /// Bytes read and not yet decoded (a frame being assembled, when the decoder
    /// asked for more).
    fn buffered(&self) -> usize;

    /// Reads and drops raw input (for a lingering close): the bytes read, 0 at the end.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>>;

    /// Takes the byte stream out for a wrapper (everything written must have been
    /// flushed). Fails if input is already buffered: it arrived in plaintext before the
    /// wrap, and is discarded.
    fn take_io(&mut self) -> Result<BoxIo, Error>;

    /// Puts the wrapped stream in place of the one taken.
    fn put_io(&mut self, io: BoxIo);

    /// The connection is about to wait: give back buffers that hold nothing.
    fn release(&mut self);

    /// Charges the buffers to the manager's memory budget from now on (datagram
    /// transports, whose buffers are bounded by their queues, ignore it).
    fn set_charge(&mut self, charge: Charge) {
        drop(charge);
    }

    /// The error of a connection shed for the memory budget.
    fn shed_error(&self) -> Error {
        budget::shed_unaccounted()
    }
}

/// The bytes a frame transport moved since the connection began (the connection's
/// traffic counts, and the guards' measures). Cells, so that counting needs no `&mut`
/// of the transport.
#[derive(Debug, Default)]
pub(crate) struct Moved {
    read_ever: Cell<u64>,
    written_ever: Cell<u64>,
}

impl Moved {
    /// `n` bytes read.
    #[inline]
    pub(crate) fn read(&self, n: u64) {
        self.read_ever.set(self.read_ever.get() + n);
    }

    /// `n` bytes written.
    #[inline]
    pub(crate) fn written(&self, n: u64) {
        self.written_ever.set(self.written_ever.get() + n);
    }

    /// The bytes read and written ever.
    #[inline]
    pub(crate) fn ever(&self) -> (u64, u64) {
        (self.read_ever.get(), self.written_ever.get())
    }
}
