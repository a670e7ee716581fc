//! The netstring framer (D. J. Bernstein): `<length>:<data>,`.

use std::fmt::{self, Write as _};
use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::around::{self, Around};
use super::length::DEFAULT_MAX_FRAME_LENGTH;
use super::scan::{at_eof, take_front};
use crate::error::framer_error;

/// The netstring framer (D. J. Bernstein): `<length>:<data>,`.
///
/// ```text
/// | 5 : h e l l o , | 0 : , |
///   frame "hello"     frame ""
/// ```
///
/// The length is ASCII decimal without leading zeros (`0` alone is the empty frame),
/// then `:`, the data, and `,`. Anything else (a non-digit, a leading zero, a missing
/// length, a byte other than `,` after the data) is [`NetstringError::BadFormat`].
///
/// # Limits
///
/// A length over [`NetstringFramer::max_frame_length`] (default
/// [`DEFAULT_MAX_FRAME_LENGTH`](super::DEFAULT_MAX_FRAME_LENGTH), 8 MiB) is an error as
/// soon as its digits show it, before the data arrives.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::NetstringFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = NetstringFramer::new();
/// let mut out = BytesMut::new();
/// framer.encode("hello", &mut out).unwrap();
/// framer.encode("", &mut out).unwrap();
/// assert_eq!(&out[..], b"5:hello,0:,");
/// assert_eq!(framer.decode(&mut out).unwrap().unwrap(), "hello");
/// assert_eq!(framer.decode(&mut out).unwrap().unwrap(), "");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetstringFramer {
    max_frame_length: usize,
}

impl NetstringFramer {
    /// A netstring framer with the default limit.
    pub fn new() -> Self {
        NetstringFramer {
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
        }
    }

    /// Sets the maximum frame length in bytes.
    #[must_use]
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_frame_length = max_frame_length;
        self
    }

    /// The maximum frame length in bytes.
    pub fn get_max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// Parses `<digits>:` at the start of `src`: `Some((header length, data length))`,
    /// or `None` while the header is incomplete.
    fn header(&self, src: &[u8]) -> Result<Option<(usize, usize)>, NetstringError> {
        let mut length: usize = 0;
        for (i, &byte) in src.iter().enumerate() {
            match byte {
                b':' if i > 0 => return Ok(Some((i + 1, length))),
                b'0'..=b'9' if i == 0 || src[0] != b'0' => {
                    length = length
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(usize::from(byte - b'0')))
                        .filter(|&l| l <= self.max_frame_length)
                        .ok_or(NetstringError::TooLong {
                            limit: self.max_frame_length,
                        })?;
                }
                _ => return Err(NetstringError::BadFormat),
            }
        }
        Ok(None)
    }
}

impl Default for NetstringFramer {
    fn default() -> Self {
        NetstringFramer::new()
    }
}

/// An error of the [`NetstringFramer`].
#[derive(Debug)]
#[non_exhaustive]
pub enum NetstringError {
    /// A frame is longer than the limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The bytes are not a netstring (bad length digits or no `,` after the data).
    BadFormat,
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes buffered of the unfinished frame.
        buffered: usize,
    },
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for NetstringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetstringError::TooLong { limit } => write!(f, "frame longer than {limit} bytes"),
            NetstringError::BadFormat => f.write_str("malformed netstring"),
            NetstringError::Truncated { buffered } => {
                write!(f, "stream ended inside a frame ({buffered} bytes buffered)")
            }
            NetstringError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(NetstringError);

impl Decoder for NetstringFramer {
    type Item = Bytes;
    type Error = NetstringError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, NetstringError> {
        let Some((header, length)) = self.header(src)? else {
            return Ok(None);
        };
        let total = header + length + 1;
        if src.len() < total {
            return Ok(None);
        }
        if src[total - 1] != b',' {
            return Err(NetstringError::BadFormat);
        }
        let mut frame = take_front(src, total);
        frame.advance(header);
        frame.truncate(length);
        Ok(Some(frame.freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, NetstringError> {
        let frame = self.decode(src)?;
        at_eof(frame, src, |buffered| NetstringError::Truncated {
            buffered,
        })
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for NetstringFramer {
    type Error = NetstringError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), NetstringError> {
        around::encode(self, frame.as_ref(), dst)
    }
}

impl Around for NetstringFramer {
    type Error = NetstringError;

    fn head(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<&[u8], NetstringError> {
        if frame.len() > self.max_frame_length {
            return Err(NetstringError::TooLong {
                limit: self.max_frame_length,
            });
        }
        // Writing to a BytesMut cannot fail.
        let _ = write!(dst, "{}:", frame.len());
        Ok(b",")
    }
}
