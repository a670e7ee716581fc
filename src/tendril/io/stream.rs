//! [`StreamIo`]: a byte stream framed by a [`FramerSwitch`], with buffers sized to the
//! data and given back when drained.
//!
//! Reading: with nothing buffered, a read goes into a chunk on the stack, and what
//! arrived is copied into a buffer of exactly its size, so the frames split from it
//! own only their bytes (a one-line request costs one small allocation, not a chunk
//! kept for the connection's life), and a connection with nothing buffered holds no
//! read buffer. A partial frame reads on into its buffer, reclaimed in place once the
//! frames split from it are gone (as a hand-written `FramedRead` does), or moved to a
//! fresh chunk. A stream of small frames that keeps more input waiting than a chunk
//! takes reads into wide buffers ([`WIDE_READ`], four chunks) instead, for as long as
//! every buffer is found unshared when it is to be reused: once a frame is seen to
//! outlive that, the connection reads in chunks again. A buffer that grew past a
//! chunk for a large frame copies the small frames decoded from it, so that a frame
//! kept by the application pins at most a chunk or [`PIN_RATIO`] times its size,
//! whichever is more (or, once per connection, a wide buffer). A stream of large frames
//! that keeps more input waiting than a read takes (a bulk transfer) reads into
//! buffers of up to [`PIN_RATIO`] frames like the last one (at most [`BULK_MAX`], only
//! while the memory budget is at most half used and the peer takes its replies), so
//! that a burst of them takes few system calls and none is copied out. Writing: the
//! connection's [`Output`].

use std::any::{Any, TypeId};
use std::io;
use std::mem::MaybeUninit;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::ReadBuf;
use tokio_util::codec::Decoder;
use tokio_util::io::poll_read_buf;

use super::budget::{self, counted, Charge};
use super::frame_io::Moved;
use super::output::Output;
use super::FrameIo;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::pool;
use crate::wrap::{BoxIo, PlaintextAfterUpgrade};

/// A frame decoded from fewer input bytes than its buffer's allocation divided by
/// this is copied out of a buffer larger than a chunk; a bulk read's buffer holds this
/// many frames like the last one, so none of those is.
const PIN_RATIO: usize = 8;

/// Room a partial frame's buffer must have before the next read.
const MIN_READ: usize = 1024;

/// A read into an empty buffer of at least this much makes the next one go straight
/// into a chunk.
const STREAMING_READ: usize = pool::CHUNK / 2;

/// The read buffer of a stream of small frames that keeps more input waiting than a
/// chunk takes (see [`StreamIo::wide_reads`]): four chunks' worth per system call.
const WIDE_READ: usize = 4 * pool::CHUNK;

/// The most a read buffer of large frames grows to while the stream keeps more input
/// than a read takes (see [`StreamIo::bulk_room`]).
const BULK_MAX: usize = 1024 * 1024;

/// Frames taking at least this much input stay counted against the memory budget
/// while their call runs (smaller ones are within each connection's free chunk).
const HOLD_MIN: usize = budget::FREE;

pub(crate) struct StreamIo<In, Out> {
    /// `None` while a live wrap has the stream.
    io: Option<BoxIo>,
    framers: FramerSwitch<In, Out>,
    rbuf: BytesMut,
    /// The allocation `rbuf` lives in, as far as it is known (its capacity when it was
    /// last allocated or grown).
    alloc: usize,
    /// New input (or a new receive framer) since the framer last said "need more".
    readable: bool,
    eof: bool,
    /// The last read into an empty buffer took at least half a chunk: input streams
    /// in, so the next one goes straight into a chunk (no copy from the stack).
    streaming: bool,
    /// The last read filled all the room it was given: the stream had more.
    bulk: bool,
    /// The input bytes of the last frame decoded.
    last_frame: usize,
    /// The read buffer is a wide one ([`WIDE_READ`]): its small frames are not copied.
    wide: bool,
    /// A read buffer was still shared when it was to be reused: a frame split from it
    /// outlived its call (the application keeps frames) or its call was still running.
    /// Reads then stay in chunks, so a kept small frame pins at most a chunk.
    kept: bool,
    /// The stream ended without its own end (`UnexpectedEof`: a TLS peer that sent no
    /// close_notify): read as an end of input, so what came before is answered, and
    /// the close reason says how it ended.
    ragged: Option<Error>,
    /// The stream takes vectored writes: large replies are passed through.
    vectored: bool,
    /// Replies encoded and not yet written.
    out: Output,
    /// Input bytes of large frames handed out whose calls still run: counted with the
    /// buffers, as their allocations live on in the application's hands.
    held: usize,
    /// Of those, the last frame's, not yet taken by its call.
    taken: usize,
    /// Of those, the bytes inside the read buffer's current allocation (counted with
    /// it, once).
    shared: usize,
    moved: Moved,
    /// The manager's memory budget, charged when a buffer's allocation changes.
    charge: Option<Charge>,
}

fn detached() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the connection's stream is being wrapped",
    )
}

impl<In: 'static, Out> StreamIo<In, Out> {
    pub(crate) fn new(io: BoxIo, framers: FramerSwitch<In, Out>) -> Self {
        StreamIo {
            vectored: io.is_write_vectored(),
            io: Some(io),
            framers,
            rbuf: BytesMut::new(),
            alloc: 0,
            readable: false,
            eof: false,
            streaming: false,
            bulk: false,
            last_frame: 0,
            wide: false,
            // Only a `Bytes` frame tells whether it shares its buffer with others.
            kept: TypeId::of::<In>() != TypeId::of::<Bytes>(),
            ragged: None,
            out: Output::new(),
            held: 0,
            taken: 0,
            shared: 0,
            moved: Moved::default(),
            charge: None,
        }
    }

    /// Drops what was read and not decoded, and gives its bytes back to the budget.
    fn drop_input(&mut self) {
        self.rbuf = BytesMut::new();
        self.set_alloc(0);
        let _ = self.account();
    }

    /// Tells the budget what the buffers hold now (nothing happens unless it changed
    /// past the uncounted chunks). Over its share while the budget is short, the
    /// connection gives up its read buffer and fails.
    #[inline(always)]
    fn account(&mut self) -> Result<(), Error> {
        match &self.charge {
            Some(charge) if charge.counted() != self.counted_now() => self.recount(),
            _ => Ok(()),
        }
    }

    #[cold]
    #[inline(never)]
    fn recount(&mut self) -> Result<(), Error> {
        let held = self.counted_now();
        let result = match self.charge.as_mut() {
            Some(charge) => charge.set(held),
            None => Ok(()),
        };
        if result.is_err() {
            // Giving the read buffer back never fails.
            self.drop_input();
        }
        result
    }

    /// A frame of `used` input bytes goes to the application: they stay counted
    /// until its call ends, with the read buffer's allocation while it shares it (so
    /// nothing changes now), on their own once the buffer moves to a new allocation.
    #[cold]
    fn hold(&mut self, used: usize) {
        self.held += used;
        self.shared += used;
        self.taken += used;
    }

    /// The read buffer now lives in an allocation of `alloc` bytes, a new one: no
    /// held frame shares it.
    #[inline(always)]
    fn set_alloc(&mut self, alloc: usize) {
        self.alloc = alloc;
        self.shared = 0;
        self.wide = false;
    }

    /// True if the next read of a stream of small frames (those no bulk read serves,
    /// at most `1 / PIN_RATIO` of a chunk) goes into a wide buffer: the last read
    /// filled its room (or the buffer is wide already), no frame ever
    /// outlived its buffer's reuse, the peer takes its replies, and the memory budget
    /// has room to spare. Fewer, larger reads cost the kernel less per byte; a wide
    /// buffer is given back like a chunk once drained.
    #[inline]
    fn wide_reads(&self) -> bool {
        (self.bulk || self.wide)
            && !self.kept
            && self.last_frame.saturating_mul(PIN_RATIO) <= pool::CHUNK
            && !self.out.blocked()
            && self
                .charge
                .as_ref()
                .is_none_or(|c| c.spare(WIDE_READ - pool::CHUNK))
    }

    /// A frame decoded from `used` input bytes, shorter than `1 / PIN_RATIO` of the
    /// allocation it was split from when that is larger than a chunk, copied into one
    /// of its own size (for `Bytes` frames, whose buffer is known). The small frames
    /// of a wide buffer are not, while the connection holds the buffer: its reuse
    /// tells whether one lives on (see [`renew`](Self::renew)). A frame that takes
    /// the rest of its buffer with it tells whether the frames before it live on (and
    /// out of a wide buffer, it is copied).
    #[inline(always)]
    fn detach<F: 'static>(&mut self, mut frame: F, used: usize) -> F {
        let took_rest = self.rbuf.capacity() == 0;
        if !took_rest && (self.alloc <= pool::CHUNK || self.wide) {
            return frame;
        }
        if let Some(bytes) = (&mut frame as &mut dyn Any).downcast_mut::<Bytes>() {
            // The connection no longer sees this buffer: the frame tells.
            self.kept |= took_rest && !bytes.is_unique();
            if self.alloc > pool::CHUNK && used.saturating_mul(PIN_RATIO) < self.alloc {
                *bytes = Bytes::copy_from_slice(bytes);
            }
        }
        frame
    }

    /// Room for the next read of small frames, after what is buffered: the read
    /// buffer's own allocation (a chunk, or a wide buffer) reclaimed in place if no
    /// frame split from it lives on and it is of the size wanted, else a fresh one
    /// the buffered bytes move to. True if it is wide.
    fn renew(&mut self) -> bool {
        let own = if self.wide { WIDE_READ } else { pool::CHUNK };
        let reclaimed = if self.alloc == own && self.rbuf.capacity() > 0 {
            let reclaimed = self.rbuf.try_reclaim(own - self.rbuf.len());
            // Shared still: a frame outlived its call, or the call still runs.
            self.kept |= !reclaimed;
            reclaimed
        } else {
            false
        };
        let wide = self.wide_reads();
        let size = if wide { WIDE_READ } else { pool::CHUNK };
        if !(reclaimed && own == size) {
            let mut fresh = if wide {
                BytesMut::with_capacity(WIDE_READ)
            } else {
                pool::take()
            };
            fresh.extend_from_slice(&self.rbuf);
            self.rbuf = fresh;
        }
        wide
    }

    /// What the budget counts: the buffers beyond their free chunks, the held frames
    /// outside the read buffer's allocation (those inside it live as long as it does,
    /// and are counted with it), and the large replies waiting to be written.
    #[inline(always)]
    fn counted_now(&self) -> usize {
        counted(self.alloc, self.out.capacity())
            + self.held.saturating_sub(self.shared)
            + self.out.passed_len()
    }

    /// Room to read into beyond the `len` bytes buffered, for a stream of large
    /// frames that had more input than the last read took (0 otherwise): enough for
    /// an allocation of [`PIN_RATIO`] frames like the last one, at most [`BULK_MAX`],
    /// so that no frame split from it is copied out, and so that a burst of them is
    /// read, and answered, in few system calls. Only while the peer takes the replies
    /// as fast as they come and the memory budget has room to spare: it is an
    /// optimisation, never a reason to hold more for a peer that does not read, or to
    /// shed anyone.
    #[inline]
    fn bulk_room(&self, len: usize) -> usize {
        if !self.bulk || self.out.blocked() {
            return 0;
        }
        let target = self.last_frame.saturating_mul(PIN_RATIO).min(BULK_MAX);
        let room = target.saturating_sub(len);
        if room <= pool::CHUNK || !self.charge.as_ref().is_none_or(|c| c.spare(target)) {
            return 0;
        }
        room
    }

    /// Reads more input: `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, Error>> {
        if self.rbuf.is_empty() && !self.streaming {
            let Some(io) = self.io.as_mut() else {
                return Poll::Ready(Err(detached().into()));
            };
            // Nothing buffered: read into the stack, then keep exactly what arrived.
            let mut stack = [MaybeUninit::<u8>::uninit(); pool::CHUNK];
            let mut buf = ReadBuf::uninit(&mut stack);
            if let Err(err) = ready!(io.as_mut().poll_read(cx, &mut buf)) {
                return Poll::Ready(self.read_error(err));
            }
            let data = buf.filled();
            let n = data.len();
            if n > 0 {
                self.rbuf = BytesMut::from(data);
                self.set_alloc(self.rbuf.capacity());
                // What a large frame's buffer held goes back.
                self.account()?;
            }
            self.streaming = n >= STREAMING_READ;
            self.bulk = n == pool::CHUNK;
            return Poll::Ready(Ok(n));
        }
        if self.rbuf.is_empty() {
            // Input streams in: read straight into a chunk, kept while reads stay
            // large (given back, as ever, once drained), or into a bulk buffer.
            let room = self.bulk_room(0);
            let wide = if room > 0 {
                self.rbuf = BytesMut::with_capacity(room);
                false
            } else {
                self.renew()
            };
            self.set_alloc(self.rbuf.capacity());
            self.wide = wide;
            self.account()?;
            let offered = self.rbuf.capacity();
            let Some(io) = self.io.as_mut() else {
                return Poll::Ready(Err(detached().into()));
            };
            return match poll_read_buf(io.as_mut(), cx, &mut self.rbuf) {
                Poll::Ready(Ok(n)) => {
                    self.streaming = n >= STREAMING_READ;
                    self.bulk = n == offered;
                    Poll::Ready(Ok(n))
                }
                Poll::Ready(Err(err)) => Poll::Ready(self.read_error(err)),
                Poll::Pending => {
                    // Nothing yet: a connection waiting holds no chunk.
                    pool::give(std::mem::take(&mut self.rbuf));
                    self.set_alloc(0);
                    self.account()?;
                    Poll::Pending
                }
            };
        }
        let len = self.rbuf.len();
        let bulk = self.bulk_room(len);
        if self.rbuf.capacity() - len < bulk.max(MIN_READ) {
            let mut wide = false;
            if bulk > 0 {
                // More input waits than a chunk takes, in frames of a size: read
                // much of it at once.
                self.rbuf.reserve(bulk);
            } else if len + MIN_READ <= pool::CHUNK {
                // A partial frame: room for a chunk's (or a wide buffer's) worth after
                // it, in place if this is a buffer of that size the frames split from
                // it no longer share, else in a fresh one (after a small read's exact
                // buffer, or a large frame's: the frames after it are split without
                // copies again).
                wide = self.renew();
            } else {
                // A frame longer than a chunk: grow by doubling.
                self.rbuf.reserve(len);
            }
            self.set_alloc(self.rbuf.capacity());
            self.wide = wide;
            // Counted before it is filled.
            self.account()?;
        }
        let offered = self.rbuf.capacity() - self.rbuf.len();
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Err(detached().into()));
        };
        match poll_read_buf(io.as_mut(), cx, &mut self.rbuf) {
            Poll::Ready(Ok(n)) => {
                self.bulk = n == offered;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(err)) => Poll::Ready(self.read_error(err)),
            Poll::Pending if self.wide => {
                // Waiting, a partial frame keeps a buffer of its size, not a wide one.
                self.rbuf = BytesMut::from(&self.rbuf[..]);
                self.set_alloc(self.rbuf.capacity());
                self.account()?;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// A read failed: a ragged end (`UnexpectedEof`) reads as the end of input, kept
    /// for the close reason; any other error is the error.
    fn read_error(&mut self, err: io::Error) -> Result<usize, Error> {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            self.ragged = Some(err.into());
            return Ok(0);
        }
        Err(err.into())
    }
}

impl<In: Send + 'static, Out: Send + 'static> FrameIo<In, Out> for StreamIo<In, Out> {
    fn framers(&mut self) -> &mut FramerSwitch<In, Out> {
        &mut self.framers
    }

    fn recv_framer_changed(&mut self) {
        self.readable = true;
    }

    fn take_ragged_end(&mut self) -> Option<Error> {
        self.ragged.take()
    }

    fn write_idle(&self) -> bool {
        self.out.is_empty()
    }

    fn discard_input(&mut self) {
        self.drop_input();
    }

    #[inline(always)]
    fn take_held(&mut self) -> usize {
        let taken = self.taken;
        if taken != 0 {
            self.taken = 0;
        }
        taken
    }

    fn release_held(&mut self, bytes: usize) {
        self.held = self.held.saturating_sub(bytes);
        // Giving back never fails.
        let _ = self.account();
    }

    #[inline(always)]
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<In>, Error>> {
        loop {
            if self.readable {
                // A framer may grow the buffer itself (preallocating a long frame).
                if self.rbuf.capacity() > self.alloc {
                    self.set_alloc(self.rbuf.capacity());
                    self.account()?;
                }
                let before = self.rbuf.len();
                let frame = if self.eof {
                    self.framers.decode_eof(&mut self.rbuf)?
                } else {
                    self.framers.decode(&mut self.rbuf)?
                };
                match frame {
                    Some(frame) => {
                        let used = before.saturating_sub(self.rbuf.len());
                        self.last_frame = used;
                        if used >= HOLD_MIN {
                            self.hold(used);
                        }
                        return Poll::Ready(Ok(Some(self.detach(frame, used))));
                    }
                    None if self.eof => {
                        self.readable = false;
                        return Poll::Ready(Ok(None));
                    }
                    None => self.readable = false,
                }
            } else if self.eof {
                return Poll::Ready(Ok(None));
            }
            let n = ready!(self.poll_fill(cx))?;
            self.moved.read(n as u64);
            self.eof = n == 0;
            self.readable = true;
        }
    }

    #[inline(always)]
    fn encode(&mut self, frame: Out) -> Result<(), Error> {
        if self.out.encode(&mut self.framers, frame, self.vectored)? {
            return self.account();
        }
        Ok(())
    }

    #[inline]
    fn write_full(&self) -> bool {
        self.out.full()
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Err(detached().into()));
        };
        ready!(self.out.poll_write(io, cx, &self.moved))?;
        ready!(io.as_mut().poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_flush(cx))?;
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Err(detached().into()));
        };
        ready!(io.as_mut().poll_shutdown(cx))?;
        Poll::Ready(Ok(()))
    }

    fn abort(&mut self, error: &Error) -> bool {
        self.io.as_mut().is_some_and(|io| io.as_mut().abort(error))
    }

    fn buffered(&self) -> usize {
        self.rbuf.len()
    }

    fn moved(&self) -> &Moved {
        &self.moved
    }

    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // What the framer had buffered goes first, then the stream.
        let buffered = self.rbuf.len();
        if buffered > 0 {
            self.drop_input();
            return Poll::Ready(Ok(buffered));
        }
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        let mut stack = [MaybeUninit::<u8>::uninit(); pool::CHUNK];
        let mut buf = ReadBuf::uninit(&mut stack);
        ready!(io.as_mut().poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }

    fn take_io(&mut self) -> Result<BoxIo, Error> {
        let buffered = self.rbuf.len();
        if buffered > 0 {
            self.drop_input();
            return Err(Error::wrap(PlaintextAfterUpgrade { bytes: buffered }));
        }
        self.io
            .take()
            .ok_or_else(|| Error::wrap("the stream is already being wrapped"))
    }

    fn put_io(&mut self, io: BoxIo) {
        self.vectored = io.is_write_vectored();
        self.io = Some(io);
    }

    fn release(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            pool::give(std::mem::take(&mut self.rbuf));
            self.set_alloc(0);
        }
        self.out.release();
        // Giving back never fails.
        let _ = self.account();
    }

    fn set_charge(&mut self, charge: Charge) {
        self.charge = Some(charge);
    }

    fn shed_error(&self) -> Error {
        match &self.charge {
            Some(charge) => charge.shed_error(),
            None => budget::shed_unaccounted(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framer::LineFramer;
    use std::future::poll_fn;
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::Encoder;

    fn line_io(io: tokio::io::DuplexStream) -> StreamIo<Bytes, Bytes> {
        StreamIo::new(
            crate::wrap::box_io(io),
            FramerSwitch::symmetric(LineFramer::lf()),
        )
    }

    #[tokio::test]
    async fn an_idle_connection_holds_no_buffer() {
        let (mut peer, io) = tokio::io::duplex(64 * 1024);
        let mut io = line_io(io);
        peer.write_all(b"hello\n").await.unwrap();
        let frame = poll_fn(|cx| io.poll_frame(cx)).await.unwrap().unwrap();
        assert_eq!(frame, "hello");
        io.encode(frame).unwrap();
        poll_fn(|cx| io.poll_flush(cx)).await.unwrap();
        io.release();
        assert_eq!(io.rbuf.capacity(), 0, "read buffer given back");
        assert_eq!(io.out.capacity(), 0, "write buffer given back");
    }

    #[tokio::test]
    async fn a_small_read_is_kept_in_a_buffer_of_its_size() {
        let (mut peer, io) = tokio::io::duplex(64 * 1024);
        let mut io = line_io(io);
        peer.write_all(b"one\ntwo\nthr").await.unwrap();
        let one = poll_fn(|cx| io.poll_frame(cx)).await.unwrap().unwrap();
        assert_eq!(one, "one");
        // The rest of the read, not a chunk, is what the connection holds.
        assert!(io.alloc < 64, "allocation of {} bytes", io.alloc);
    }

    #[tokio::test]
    async fn a_small_frame_after_a_large_one_does_not_pin_the_large_buffer() {
        let (mut peer, io) = tokio::io::duplex(256 * 1024);
        let mut io = line_io(io);
        let mut input = vec![b'x'; 60_000];
        input.extend_from_slice(b"\nv\n");
        let writer = tokio::spawn(async move {
            peer.write_all(&input).await.unwrap();
            peer
        });
        let large = poll_fn(|cx| io.poll_frame(cx)).await.unwrap().unwrap();
        assert_eq!(large.len(), 60_000);
        let small = poll_fn(|cx| io.poll_frame(cx)).await.unwrap().unwrap();
        assert_eq!(small, "v");
        assert!(io.alloc > pool::CHUNK, "the buffer grew for the large line");
        // A copy owns its allocation alone; a slice of the large buffer would share
        // it with `large` and the connection's buffer.
        assert!(small.is_unique(), "copied out of the large buffer");
        assert!(
            !large.is_unique(),
            "the large frame is split without a copy"
        );
        drop(writer.await.unwrap());
    }

    /// Reads `lines` lines of 16 bytes, written with `tail` before the first read,
    /// keeping every frame if `keep`; returns the connection, its peer and the largest
    /// read buffer seen.
    async fn read_lines(
        lines: usize,
        keep: bool,
        tail: &[u8],
    ) -> (StreamIo<Bytes, Bytes>, tokio::io::DuplexStream, usize) {
        let (mut peer, io) = tokio::io::duplex(8 << 20);
        let mut io = line_io(io);
        let mut input = b"0123456789abcde\n".repeat(lines);
        input.extend_from_slice(tail);
        peer.write_all(&input).await.unwrap();
        let mut kept = Vec::new();
        let mut widest = 0;
        for _ in 0..lines {
            let frame = poll_fn(|cx| io.poll_frame(cx)).await.unwrap().unwrap();
            assert_eq!(frame, "0123456789abcde");
            widest = widest.max(io.alloc);
            if keep {
                kept.push(frame);
            }
        }
        (io, peer, widest)
    }

    /// A stream of small frames that keeps more input waiting than a chunk takes is
    /// read in wide buffers, and its frames are split from them without copies.
    #[tokio::test]
    async fn a_stream_of_small_frames_is_read_wide() {
        let (io, _peer, widest) = read_lines(32 * 1024, false, b"").await;
        assert_eq!(widest, WIDE_READ);
        assert!(!io.kept, "no frame outlived its call");
    }

    /// A partial frame waiting for the rest keeps a buffer of its size, not a wide one.
    #[tokio::test]
    async fn a_partial_frame_waits_in_a_buffer_of_its_size() {
        let (mut io, _peer, widest) = read_lines(32 * 1024, false, b"partial").await;
        assert_eq!(widest, WIDE_READ);
        let waiting = poll_fn(|cx| Poll::Ready(io.poll_frame(cx))).await;
        assert!(waiting.is_pending());
        assert_eq!(&io.rbuf[..], b"partial");
        assert!(io.alloc < 64, "waiting in {} bytes", io.alloc);
    }

    /// An application that keeps its frames keeps reads to chunks: a kept small frame
    /// pins at most a chunk.
    #[tokio::test]
    async fn frames_kept_keep_reads_to_chunks() {
        let (io, _peer, widest) = read_lines(32 * 1024, true, b"").await;
        assert!(io.kept, "the frames kept were seen");
        assert_eq!(widest, pool::CHUNK, "never a wide buffer");
    }

    /// Decodes `count` length-prefixed frames of `size` bytes, all written before the
    /// first read, through a connection charged to `budget`; returns how many
    /// allocations they were split from (frames next to each other in memory share
    /// one; a frame copied out is apart).
    async fn burst(budget: usize, count: usize, size: usize) -> usize {
        use crate::framer::LengthFramer;
        use crate::tendril::control::NoControl;
        use std::sync::Weak;
        let (mut peer, io) = tokio::io::duplex(8 << 20);
        let framers = FramerSwitch::symmetric(LengthFramer::default());
        let mut io: StreamIo<Bytes, Bytes> = StreamIo::new(crate::wrap::box_io(io), framers);
        let budget = budget::Budget::new(budget);
        io.set_charge(budget.charge(Weak::<NoControl>::new()));
        let mut input = BytesMut::new();
        let mut reference = LengthFramer::default();
        for n in 0..count {
            reference
                .encode(Bytes::from(vec![n as u8; size]), &mut input)
                .unwrap();
        }
        peer.write_all(&input).await.unwrap();
        let mut frames: Vec<Bytes> = Vec::new();
        for n in 0..count {
            let frame = poll_fn(|cx| io.poll_frame(cx)).await.unwrap().unwrap();
            assert_eq!(frame, vec![n as u8; size]);
            // Its call ended (the application keeps it).
            let held = io.take_held();
            io.release_held(held);
            frames.push(frame);
        }
        let apart = frames
            .windows(2)
            .filter(|pair| pair[0].as_ptr() as usize + size + 4 != pair[1].as_ptr() as usize)
            .count();
        1 + apart
    }

    /// A burst of large frames is read in few large reads, each frame split from them
    /// without a copy (a buffer holds at most `PIN_RATIO` frames like the last one).
    #[tokio::test]
    async fn a_burst_of_large_frames_is_read_in_bulk_without_copies() {
        let allocations = burst(256 << 20, 32, 64 * 1024).await;
        assert!(
            allocations <= 32 / (PIN_RATIO - 1) + 2,
            "32 frames in {allocations} buffers"
        );
    }

    /// While output to a peer that does not read is blocked, reads stay small.
    #[tokio::test]
    async fn reads_stay_small_while_output_is_blocked() {
        use crate::framer::LengthFramer;
        let (socket, _peer) = crate::tendril::io::tcp_pair().await;
        let framers = FramerSwitch::symmetric(LengthFramer::default());
        let mut io: StreamIo<Bytes, Bytes> = StreamIo::new(crate::wrap::box_io(socket), framers);
        io.bulk = true;
        io.last_frame = 64 * 1024;
        assert!(
            io.bulk_room(0) > pool::CHUNK,
            "bulk reads while output flows"
        );
        let frame = Bytes::from(vec![0; 256 * 1024]);
        // The socket's buffers take a few MiB at most.
        for _ in 0..256 {
            io.encode(frame.clone()).unwrap();
            let flush = poll_fn(|cx| Poll::Ready(io.poll_flush(cx)));
            if flush.await.is_pending() {
                break;
            }
        }
        assert!(!io.write_idle(), "the peer stopped taking output");
        assert_eq!(io.bulk_room(0), 0, "no bulk reads while output is blocked");
    }

    /// Larger reads are an optimisation: with the budget more than half used they
    /// are not taken, and each frame reads into its own buffer.
    #[tokio::test]
    async fn a_budget_short_of_room_keeps_reads_to_the_frame() {
        let allocations = burst(1 << 20, 32, 64 * 1024).await;
        assert!(allocations >= 31, "32 frames in {allocations} buffers");
    }
}
