//! The chunk framer: exactly `n` bytes (in pieces, or as one whole frame), then hand
//! over to the next framer.

use std::fmt;
use std::io;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::around::{self, Around};
use super::length::{DEFAULT_MAX_FRAME_LENGTH, PREALLOCATE_LIMIT};
use super::scan::take_front;

use crate::error::framer_error;

/// The chunk framer: exactly `n` bytes, then hand over to the next framer.
///
/// ```text
/// chunk(5), bytes arriving in two reads and more behind:
///   read 1: | h e l |          -> frame "hel"
///   read 2: | l o Q U I T ... | -> frame "lo", then no more frames;
///                                 "QUIT ..." stays buffered for the next framer
/// ```
///
/// It receives a body whose size is known in advance (a `Content-Length`, a `BDAT n`
/// command) as frames of whatever size arrived, without buffering the whole body. Once
/// `n` bytes have been passed on it produces no further frames, and the bytes behind
/// the body stay in the buffer: switch the receive framer back
/// (see [`FramerSwitch`](super::FramerSwitch)) and they are decoded by the next framer.
///
/// [`ChunkFramer::whole`] is the other mode: the `n` bytes as one frame, for a body
/// the application wants in one piece (a memcached `set` value, a Redis bulk string),
/// bounded by [`max_frame_length`](ChunkFramer::max_frame_length).
///
/// As an encoder it passes frames through unchanged and refuses to write more than
/// `n` bytes in total, so a sender cannot overrun the size it announced.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::ChunkFramer;
/// use tokio_util::codec::Decoder;
///
/// let mut framer = ChunkFramer::new(5);
/// let mut buf = BytesMut::from("hel");
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "hel");
/// buf.extend_from_slice(b"loQUIT\r\n");
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "lo");
/// assert!(framer.is_done());
/// assert_eq!(framer.decode(&mut buf).unwrap(), None);
/// assert_eq!(&buf[..], b"QUIT\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkFramer {
    decode_remaining: u64,
    encode_remaining: u64,
    /// A chunk of 0 bytes still owes its one empty frame.
    empty_body: bool,
    /// [`ChunkFramer::whole`]: the `n` bytes come as one frame.
    whole: bool,
    max_frame_length: usize,
}

impl ChunkFramer {
    /// A framer for the next `n` bytes in each direction.
    ///
    /// A chunk of 0 bytes decodes as one empty frame (at once, without waiting for
    /// input), so an application that switched to it for an empty body sees that body
    /// like any other and switches back; without it, nothing would ever call the
    /// application again.
    pub fn new(n: u64) -> Self {
        ChunkFramer {
            decode_remaining: n,
            encode_remaining: n,
            empty_body: n == 0,
            whole: false,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
        }
    }

    /// A framer for exactly the next `n` bytes as **one** frame: nothing is passed on
    /// until all `n` have arrived (the read buffer grows toward `n` as they do, not
    /// all at once). `n` above the maximum frame length (8 MiB unless
    /// [`max_frame_length`](Self::max_frame_length) says otherwise) is an error
    /// ([`ChunkError::TooLong`]) as soon as it decodes, before anything is buffered: a
    /// length a peer announced cannot make the connection hold more than the limit.
    /// The bytes after them stay buffered for the next framer, and encoding is as for
    /// [`ChunkFramer::new`].
    ///
    /// The recipe for a length-announced body (memcached's `set k 0 0 5`, then 5 bytes
    /// and CRLF; a `Content-Length`): on the command line, switch the receive framer to
    /// `ChunkFramer::whole(n + 2)`; the next frame is the data with its CRLF; switch
    /// back to the line framer there (the `memcache_server` example does this).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tendril_net::framer::{ChunkError, ChunkFramer};
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut framer = ChunkFramer::whole(7);
    /// let mut buf = BytesMut::from("hello");
    /// assert_eq!(framer.decode(&mut buf).unwrap(), None);
    /// buf.extend_from_slice(b"\r\nget k\r\n");
    /// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "hello\r\n");
    /// assert!(framer.is_done());
    /// assert_eq!(&buf[..], b"get k\r\n");
    ///
    /// let mut huge = ChunkFramer::whole(1 << 40);
    /// let err = huge.decode(&mut BytesMut::new()).unwrap_err();
    /// assert!(matches!(err, ChunkError::TooLong { limit: 8_388_608, .. }));
    /// ```
    pub fn whole(n: u64) -> Self {
        ChunkFramer {
            whole: true,
            ..ChunkFramer::new(n)
        }
    }

    /// Sets the longest frame [`ChunkFramer::whole`] gathers, in bytes (8 MiB by
    /// default). The pieces of [`ChunkFramer::new`] are as long as what arrived, never
    /// more than the read buffer: the limit does not apply to them.
    #[must_use]
    pub fn max_frame_length(mut self, max: usize) -> Self {
        self.max_frame_length = max;
        self
    }

    /// Bytes still to be decoded before this framer stops producing frames.
    pub fn remaining(&self) -> u64 {
        self.decode_remaining
    }

    /// True once all `n` bytes have been decoded (for `n` = 0: once its empty frame
    /// was).
    pub fn is_done(&self) -> bool {
        self.decode_remaining == 0 && !self.empty_body
    }
}

/// An error of the [`ChunkFramer`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ChunkError {
    /// The stream ended with `remaining` bytes of the chunk still missing.
    Truncated {
        /// Bytes that were still expected.
        remaining: u64,
    },
    /// A frame to encode is longer than what is left of the `n` bytes.
    Overrun {
        /// Length of the rejected frame.
        length: usize,
        /// Bytes that could still be written.
        remaining: u64,
    },
    /// [`ChunkFramer::whole`] was asked for more bytes than its maximum frame length.
    TooLong {
        /// The bytes asked for.
        length: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::Truncated { remaining } => {
                write!(
                    f,
                    "stream ended with {remaining} bytes of the chunk missing"
                )
            }
            ChunkError::Overrun { length, remaining } => write!(
                f,
                "frame of {length} bytes exceeds the {remaining} bytes left in the chunk"
            ),
            ChunkError::TooLong { length, limit } => {
                write!(
                    f,
                    "chunk of {length} bytes exceeds the limit of {limit} bytes"
                )
            }
            ChunkError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(ChunkError);

impl ChunkFramer {
    fn decode_whole(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ChunkError> {
        let wanted = match usize::try_from(self.decode_remaining) {
            Ok(0) => return Ok(None),
            Ok(wanted) if wanted <= self.max_frame_length => wanted,
            _ => {
                return Err(ChunkError::TooLong {
                    length: self.decode_remaining,
                    limit: self.max_frame_length,
                })
            }
        };
        if src.len() < wanted {
            src.reserve((wanted - src.len()).min(PREALLOCATE_LIMIT));
            return Ok(None);
        }
        self.decode_remaining = 0;
        Ok(Some(take_front(src, wanted).freeze()))
    }
}

impl Decoder for ChunkFramer {
    type Item = Bytes;
    type Error = ChunkError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ChunkError> {
        if self.empty_body {
            self.empty_body = false;
            return Ok(Some(Bytes::new()));
        }
        if self.whole {
            return self.decode_whole(src);
        }
        if self.decode_remaining == 0 || src.is_empty() {
            return Ok(None);
        }
        let take = usize::try_from(self.decode_remaining)
            .map_or(src.len(), |remaining| remaining.min(src.len()));
        self.decode_remaining -= take as u64;
        Ok(Some(take_front(src, take).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ChunkError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if self.decode_remaining > 0 => Err(ChunkError::Truncated {
                remaining: self.decode_remaining,
            }),
            None => Ok(None),
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for ChunkFramer {
    type Error = ChunkError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), ChunkError> {
        around::encode(self, frame.as_ref(), dst)
    }
}

impl Around for ChunkFramer {
    type Error = ChunkError;

    fn head(&mut self, frame: &[u8], _dst: &mut BytesMut) -> Result<&[u8], ChunkError> {
        if frame.len() as u64 > self.encode_remaining {
            return Err(ChunkError::Overrun {
                length: frame.len(),
                remaining: self.encode_remaining,
            });
        }
        self.encode_remaining -= frame.len() as u64;
        Ok(b"")
    }
}
