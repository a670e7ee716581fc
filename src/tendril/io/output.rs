//! [`Output`]: what a stream connection has encoded and not yet written.
//!
//! Replies are encoded into a pooled write chunk (64 KiB), written when it passes its
//! high-water mark or when the driver runs out of work; the chunk goes back once
//! everything is written. A reply of at least [`LARGE`] bytes that its framer sends
//! unchanged (every built-in but the byte-stuffing ones) is not copied: its header and
//! trailer go into the chunk, and a vectored write sends its bytes from the frame
//! itself, in between. Such replies go out together, up to [`PASSED_HIGH_WATER`] bytes
//! per burst, while the stream takes what it is given.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Encoder;

use super::frame_io::Moved;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::pool;
use crate::wrap::BoxIo;

/// Replies of at least this many bytes are written from the frame itself (when the
/// stream takes vectored writes), not copied into the write buffer.
pub(crate) const LARGE: usize = 4 * 1024;

/// Slices in one vectored write, at most.
const MAX_SLICES: usize = 64;

/// Replies passed through from their frames are written once this many of their
/// bytes wait (or when the driver runs out of work): a burst of large frames goes out
/// in few, large writes. They hold no buffer of their own: the bytes are the frames'.
/// While the stream does not take all it is given (a peer that reads slower than it
/// sends), the mark is a write chunk's, as for encoded replies.
const PASSED_HIGH_WATER: usize = 1024 * 1024;

pub(super) struct Output {
    wbuf: BytesMut,
    /// Large replies passed through, in order, each with the position in `wbuf` its
    /// bytes go before (its header ends there, its trailer starts there).
    passed: VecDeque<(usize, Bytes)>,
    /// Their bytes still to write.
    passed_len: usize,
    /// The last write would have blocked (the peer is not reading as fast as it
    /// sends): output waits at the small high-water mark.
    blocked: bool,
}

impl Output {
    pub(super) fn new() -> Self {
        Output {
            wbuf: BytesMut::new(),
            passed: VecDeque::new(),
            passed_len: 0,
            blocked: false,
        }
    }

    /// Encodes `frame` with `framers`, passing it through if the stream takes
    /// `vectored` writes and it is large. Returns true if what the memory budget
    /// counts may have changed (a reply passed through, a chunk grown past its size).
    #[inline(always)]
    pub(super) fn encode<In, Out: 'static>(
        &mut self,
        framers: &mut FramerSwitch<In, Out>,
        frame: Out,
        vectored: bool,
    ) -> Result<bool, Error> {
        if self.wbuf.capacity() == 0 {
            self.wbuf = pool::take_write();
        }
        if !vectored {
            framers.encode(frame, &mut self.wbuf)?;
        } else if let Some(passed) = framers.encode_large(frame, &mut self.wbuf, LARGE)? {
            self.passed_len += passed.1.len();
            self.passed.push_back(passed);
            return Ok(true);
        }
        Ok(self.wbuf.capacity() > pool::WRITE_CHUNK)
    }

    /// True while the output is over its high-water mark.
    #[inline]
    pub(super) fn full(&self) -> bool {
        let high_water = if self.blocked {
            pool::WRITE_CHUNK
        } else {
            PASSED_HIGH_WATER
        };
        self.wbuf.len() >= pool::WRITE_CHUNK || self.passed_len >= high_water
    }

    /// Nothing waits to be written.
    pub(super) fn is_empty(&self) -> bool {
        self.wbuf.is_empty() && self.passed.is_empty()
    }

    /// The last write would have blocked, and nothing was written in full since.
    #[inline]
    pub(super) fn blocked(&self) -> bool {
        self.blocked
    }

    /// The write buffer's allocation.
    #[inline(always)]
    pub(super) fn capacity(&self) -> usize {
        self.wbuf.capacity()
    }

    /// The bytes of the replies passed through still to write.
    #[inline(always)]
    pub(super) fn passed_len(&self) -> usize {
        self.passed_len
    }

    /// Writes everything to `io`, counting what goes in `moved`.
    pub(super) fn poll_write(
        &mut self,
        io: &mut BoxIo,
        cx: &mut Context<'_>,
        moved: &Moved,
    ) -> Poll<Result<(), Error>> {
        while !self.is_empty() {
            let written = if self.passed.is_empty() {
                io.as_mut().poll_write(cx, &self.wbuf)
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let count = self.gather(&mut slices);
                io.as_mut().poll_write_vectored(cx, &slices[..count])
            };
            let Poll::Ready(n) = written else {
                self.blocked = true;
                return Poll::Pending;
            };
            let n = n?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
            }
            moved.written(n as u64);
            self.advance(n);
        }
        self.blocked = false;
        Poll::Ready(Ok(()))
    }

    /// The output in the order it goes, as slices for a vectored write: the write
    /// buffer up to each passed frame, the frame, ..., the rest of the buffer (as many
    /// as `slices` holds). Returns how many.
    fn gather<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let wbuf = &self.wbuf[..];
        let mut count = 0;
        let mut start = 0;
        for (at, frame) in &self.passed {
            if count + 2 > slices.len() {
                return count;
            }
            if *at > start {
                slices[count] = IoSlice::new(&wbuf[start..*at]);
                count += 1;
            }
            slices[count] = IoSlice::new(frame);
            count += 1;
            start = *at;
        }
        if start < wbuf.len() && count < slices.len() {
            slices[count] = IoSlice::new(&wbuf[start..]);
            count += 1;
        }
        count
    }

    /// `n` bytes were written: out of the write buffer and the passed frames, in the
    /// order they go.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let before = self.passed.front().map_or(self.wbuf.len(), |(at, _)| *at);
            if before > 0 {
                let step = before.min(n);
                self.wbuf.advance(step);
                for (at, _) in self.passed.iter_mut() {
                    *at -= step;
                }
                n -= step;
                continue;
            }
            let Some((_, frame)) = self.passed.front_mut() else {
                return;
            };
            let step = frame.len().min(n);
            frame.advance(step);
            self.passed_len -= step;
            n -= step;
            if frame.is_empty() {
                self.passed.pop_front();
            }
        }
    }

    /// Gives back the buffers of an output with nothing to write.
    pub(super) fn release(&mut self) {
        if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
            pool::give_write(std::mem::take(&mut self.wbuf));
        }
        if self.passed.is_empty() && self.passed.capacity() > 0 {
            // The room large replies took goes back while the connection waits.
            self.passed = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framer::{FramerSwitch, LengthFramer};
    use std::future::poll_fn;
    use tokio::io::AsyncReadExt;

    /// An output to a loopback socket (which takes vectored writes), with its peer,
    /// and length framers.
    async fn length_output() -> (
        BoxIo,
        tokio::net::TcpStream,
        FramerSwitch<Bytes, Bytes>,
        Output,
    ) {
        let (socket, peer) = crate::tendril::io::tcp_pair().await;
        let framers = FramerSwitch::symmetric(LengthFramer::default());
        (crate::wrap::box_io(socket), peer, framers, Output::new())
    }

    /// Over a socket (which takes vectored writes), large replies go out from the
    /// frames themselves, between the small ones, in order.
    #[tokio::test]
    async fn large_replies_are_written_from_the_frame_without_a_copy() {
        let (mut io, mut peer, mut framers, mut out) = length_output().await;
        let large = |byte| Bytes::from(vec![byte; 100_000]);
        let frames = [
            Bytes::from_static(b"one"),
            large(b'a'),
            large(b'b'),
            Bytes::from_static(b"two"),
            large(b'c'),
        ];
        let mut expected = BytesMut::new();
        let mut reference = LengthFramer::default();
        for frame in &frames {
            reference.encode(frame.clone(), &mut expected).unwrap();
            out.encode(&mut framers, frame.clone(), true).unwrap();
        }
        assert_eq!(out.passed.len(), 3, "the large frames are passed through");
        assert!(!out.full(), "large replies wait to go out together");
        assert!(
            out.wbuf.len() < 64,
            "only headers and small frames are copied"
        );
        let reader = tokio::spawn(async move {
            let mut got = vec![0; expected.len()];
            peer.read_exact(&mut got).await.unwrap();
            assert_eq!(got, expected);
        });
        let moved = Moved::default();
        poll_fn(|cx| out.poll_write(&mut io, cx, &moved))
            .await
            .unwrap();
        assert!(out.is_empty());
        assert_eq!(
            moved.ever().1,
            frames.iter().map(|f| 4 + f.len() as u64).sum::<u64>()
        );
        reader.await.unwrap();
    }

    /// Output to a peer that does not read waits at a write chunk's mark, not at the
    /// burst mark.
    #[tokio::test]
    async fn output_to_a_peer_that_does_not_read_waits_at_a_chunk() {
        let (mut io, _peer, mut framers, mut out) = length_output().await;
        let moved = Moved::default();
        let frame = Bytes::from(vec![0; 256 * 1024]);
        out.encode(&mut framers, frame.clone(), true).unwrap();
        assert!(!out.full(), "a burst of large replies goes out together");
        // The socket's buffers take a few MiB at most.
        for _ in 0..256 {
            let write = poll_fn(|cx| Poll::Ready(out.poll_write(&mut io, cx, &moved)));
            if write.await.is_pending() {
                break;
            }
            out.encode(&mut framers, frame.clone(), true).unwrap();
        }
        assert!(out.blocked(), "the peer stopped taking output");
        out.encode(&mut framers, frame, true).unwrap();
        assert!(out.full(), "output waits at a chunk's mark");
    }
}
