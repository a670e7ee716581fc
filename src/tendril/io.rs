//! The connection's I/O object, counted, and framed.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::Framed;

use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::wrap::{BoxIo, Detached, PlaintextAfterUpgrade};

/// Counts the bytes moved through a [`BoxIo`]; the driver drains the counts into the
/// manager's counters once per wake-up.
pub(crate) struct CountedIo {
    inner: BoxIo,
    pub(crate) read: u64,
    pub(crate) written: u64,
}

impl CountedIo {
    pub(crate) fn new(inner: BoxIo) -> Self {
        CountedIo {
            inner,
            read: 0,
            written: 0,
        }
    }
}

impl AsyncRead for CountedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = self.inner.as_mut().poll_read(cx, buf);
        self.read += (buf.filled().len() - before) as u64;
        result
    }
}

impl AsyncWrite for CountedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = self.inner.as_mut().poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            self.written += n as u64;
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = self.inner.as_mut().poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            self.written += n as u64;
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}

/// A connection's frame transport as its driver sees it: frames in, frames out, the
/// framers to switch, and the bytes moved. Streams use a `Framed` over a [`BoxIo`];
/// datagram transports supply their own.
pub(crate) trait FrameIo<In, Out>:
    Stream<Item = Result<In, Error>> + Sink<Out, Error = Error> + Unpin
{
    /// The receive and send framers.
    fn framers(&mut self) -> &mut FramerSwitch<In, Out>;

    /// Bytes read and written since the last call.
    fn take_counts(&mut self) -> (u64, u64);

    /// Reads and drops raw input (for a lingering close): the bytes read, 0 at the end.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>>;

    /// Takes the byte stream out for a wrapper (everything written must have been
    /// flushed). Fails if input is already buffered: it arrived in plaintext before the
    /// wrap, and is discarded.
    fn take_io(&mut self) -> Result<BoxIo, Error>;

    /// Puts the wrapped stream in place of the one taken.
    fn put_io(&mut self, io: BoxIo);
}

/// A byte stream framed by a [`FramerSwitch`].
pub(crate) type StreamIo<In, Out> = Framed<CountedIo, FramerSwitch<In, Out>>;

/// Frames `io` with `framers`, counting its bytes.
pub(crate) fn stream_io<In, Out>(io: BoxIo, framers: FramerSwitch<In, Out>) -> StreamIo<In, Out> {
    Framed::new(CountedIo::new(io), framers)
}

impl<In, Out> FrameIo<In, Out> for StreamIo<In, Out> {
    fn framers(&mut self) -> &mut FramerSwitch<In, Out> {
        self.codec_mut()
    }

    fn take_counts(&mut self) -> (u64, u64) {
        let io = self.get_mut();
        let counts = (io.read, io.written);
        io.read = 0;
        io.written = 0;
        counts
    }

    fn take_io(&mut self) -> Result<BoxIo, Error> {
        let buffered = self.read_buffer().len();
        if buffered > 0 {
            self.read_buffer_mut().clear();
            return Err(Error::wrap(PlaintextAfterUpgrade { bytes: buffered }));
        }
        Ok(std::mem::replace(
            &mut self.get_mut().inner,
            Box::pin(Detached),
        ))
    }

    fn put_io(&mut self, io: BoxIo) {
        self.get_mut().inner = io;
    }

    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // What the framer had buffered goes first, then the socket.
        let buffered = self.read_buffer().len();
        if buffered > 0 {
            self.read_buffer_mut().clear();
            return Poll::Ready(Ok(buffered));
        }
        let mut scratch = [0u8; 8192];
        let mut buf = ReadBuf::new(&mut scratch);
        ready!(Pin::new(self.get_mut()).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}
