//! The header framer of the LSP and DAP base protocol: `Content-Length: N`, a blank
//! line, then N bytes.

use std::fmt::{self, Write as _};
use std::io;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem;
use tokio_util::codec::{Decoder, Encoder};

use super::around::{self, Around};
use super::length::{DEFAULT_MAX_FRAME_LENGTH, PREALLOCATE_LIMIT};
use super::scan::{at_eof, take_front};
use crate::error::framer_error;

/// Default longest header block (every header line and the blank line): 4 KiB.
pub const DEFAULT_MAX_HEADER_LENGTH: usize = 4096;

const BLANK_LINE: &[u8] = b"\r\n\r\n";

/// The header framer of the Language Server Protocol's base protocol (and the Debug
/// Adapter Protocol's): header lines, a blank line, then a body of the length the
/// `Content-Length` header gives.
///
/// ```text
/// | Content-Length: 5 \r\n | Content-Type: ... \r\n | \r\n | h e l l o |
///   required header          optional, ignored       end    frame "hello"
/// ```
///
/// Header names are matched without regard to case; each line is `Name: value`. A
/// missing or repeated `Content-Length`, a value that is not decimal digits, or a line
/// without `:` is [`ContentLengthError::BadHeader`]. Other headers (`Content-Type`)
/// are read past; the frame is the body alone. The encoder writes
/// `Content-Length: N\r\n\r\n` before the body, nothing else.
///
/// # Limits
///
/// The header block (its lines and the blank line) is at most
/// [`max_header_length`](Self::max_header_length) bytes (default
/// [`DEFAULT_MAX_HEADER_LENGTH`], 4 KiB): past that without a blank line is
/// [`ContentLengthError::HeaderTooLong`]. A `Content-Length` over
/// [`max_frame_length`](Self::max_frame_length) (default 8 MiB) is
/// [`ContentLengthError::TooLong`] as soon as the header is complete, before the body
/// arrives. Bytes of a header that is still arriving are scanned once.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::ContentLengthFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = ContentLengthFramer::new();
/// let mut wire = BytesMut::new();
/// framer.encode(r#"{"jsonrpc":"2.0"}"#, &mut wire).unwrap();
/// assert_eq!(&wire[..], b"Content-Length: 17\r\n\r\n{\"jsonrpc\":\"2.0\"}");
///
/// let mut input = BytesMut::from(&b"content-length: 2\r\nContent-Type: x\r\n\r\nhi"[..]);
/// assert_eq!(framer.decode(&mut input).unwrap().unwrap(), "hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentLengthFramer {
    max_frame_length: usize,
    max_header_length: usize,
    /// The frame being read: its header parsed (header length, body length).
    pending: Option<(usize, usize)>,
    /// Bytes of an unfinished header already scanned for the blank line.
    scanned: usize,
}

impl ContentLengthFramer {
    /// A framer with the default limits.
    pub fn new() -> Self {
        ContentLengthFramer {
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            max_header_length: DEFAULT_MAX_HEADER_LENGTH,
            pending: None,
            scanned: 0,
        }
    }

    /// Sets the maximum body length in bytes.
    #[must_use]
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_frame_length = max_frame_length;
        self
    }

    /// Sets the maximum length of the header block in bytes (its lines and the blank
    /// line that ends it).
    #[must_use]
    pub fn max_header_length(mut self, max_header_length: usize) -> Self {
        self.max_header_length = max_header_length;
        self
    }

    /// The header of the frame at the start of `src`: `(header length, body length)`,
    /// or `None` while its blank line has not arrived.
    fn header(&mut self, src: &[u8]) -> Result<Option<(usize, usize)>, ContentLengthError> {
        let limit = src.len().min(self.max_header_length);
        // The blank line may straddle what was scanned and what is new.
        let from = self.scanned.saturating_sub(BLANK_LINE.len() - 1);
        let Some(at) = memmem::find(&src[from..limit], BLANK_LINE).map(|at| from + at) else {
            if src.len() >= self.max_header_length {
                return Err(ContentLengthError::HeaderTooLong {
                    limit: self.max_header_length,
                });
            }
            self.scanned = src.len();
            return Ok(None);
        };
        self.scanned = 0;
        let mut length = None;
        for line in src[..at].split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(ContentLengthError::BadHeader)?;
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if !name.eq_ignore_ascii_case(b"content-length") {
                continue;
            }
            if length.is_some() || value.is_empty() {
                return Err(ContentLengthError::BadHeader);
            }
            let mut n: usize = 0;
            for &digit in value {
                if !digit.is_ascii_digit() {
                    return Err(ContentLengthError::BadHeader);
                }
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(usize::from(digit - b'0')))
                    .filter(|&n| n <= self.max_frame_length)
                    .ok_or(ContentLengthError::TooLong {
                        limit: self.max_frame_length,
                    })?;
            }
            length = Some(n);
        }
        let length = length.ok_or(ContentLengthError::BadHeader)?;
        Ok(Some((at + BLANK_LINE.len(), length)))
    }
}

impl Default for ContentLengthFramer {
    fn default() -> Self {
        ContentLengthFramer::new()
    }
}

/// An error of the [`ContentLengthFramer`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ContentLengthError {
    /// A body is longer than the limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The header block is longer than its limit.
    HeaderTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A header line without `:`, or a `Content-Length` missing, repeated or not
    /// decimal digits.
    BadHeader,
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes buffered of the unfinished frame.
        buffered: usize,
    },
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for ContentLengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentLengthError::TooLong { limit } => write!(f, "body longer than {limit} bytes"),
            ContentLengthError::HeaderTooLong { limit } => {
                write!(f, "header longer than {limit} bytes")
            }
            ContentLengthError::BadHeader => f.write_str("malformed Content-Length header"),
            ContentLengthError::Truncated { buffered } => {
                write!(f, "stream ended inside a frame ({buffered} bytes buffered)")
            }
            ContentLengthError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(ContentLengthError);

impl Decoder for ContentLengthFramer {
    type Item = Bytes;
    type Error = ContentLengthError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ContentLengthError> {
        let (header, length) = match self.pending {
            Some(pending) => pending,
            None => match self.header(src)? {
                Some(pending) => {
                    self.pending = Some(pending);
                    pending
                }
                None => return Ok(None),
            },
        };
        let total = header + length;
        if src.len() < total {
            src.reserve((total - src.len()).min(PREALLOCATE_LIMIT));
            return Ok(None);
        }
        self.pending = None;
        let mut frame = take_front(src, total);
        frame.advance(header);
        Ok(Some(frame.freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ContentLengthError> {
        let frame = self.decode(src)?;
        at_eof(frame, src, |buffered| ContentLengthError::Truncated {
            buffered,
        })
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for ContentLengthFramer {
    type Error = ContentLengthError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), ContentLengthError> {
        around::encode(self, frame.as_ref(), dst)
    }
}

impl Around for ContentLengthFramer {
    type Error = ContentLengthError;

    fn head(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<&[u8], ContentLengthError> {
        if frame.len() > self.max_frame_length {
            return Err(ContentLengthError::TooLong {
                limit: self.max_frame_length,
            });
        }
        // Writing to a BytesMut cannot fail.
        let _ = write!(dst, "Content-Length: {}\r\n\r\n", frame.len());
        Ok(b"")
    }
}
