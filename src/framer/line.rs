//! The line framer: one frame per line.

use std::fmt;
use std::io;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::around::{self, Around};
use super::scan::{contains_byte, find_byte, take_front};

use crate::error::framer_error;

/// Default maximum line length of [`LineFramer`]: 64 KiB.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 64 * 1024;

/// The line framer: one frame per line.
///
/// ```text
/// CRLF mode (default):  | H E L O   x \r \n | \r \n | Q U I T \n |
/// frames:                 "HELO x"            ""      "QUIT"
///
/// LF mode:              | a \r \n | b \n |
/// frames:                 "a\r"     "b"
/// ```
///
/// Lines are split on LF. In CRLF mode a CR right before the LF is stripped too, and
/// frames are encoded followed by CRLF; a lone LF still ends a line (as most servers
/// accept). In LF mode CRs are ordinary bytes and frames are encoded followed by LF. An
/// empty line is an empty frame.
///
/// # Limits
///
/// A line longer than [`LineFramer::max_frame_length`] (default [`DEFAULT_MAX_LINE_LENGTH`],
/// 64 KiB, not counting the line ending) is an error reported as soon as the buffered
/// bytes cross the limit, so a peer that never sends a newline cannot make the
/// connection buffer without bound. The encoder refuses frames over the same limit and
/// frames that contain an LF (they would not decode back to the same frame).
///
/// With [`discard_too_long`](LineFramer::discard_too_long), an over-long line is
/// instead dropped as it arrives, through its line end, and only then is `TooLong`
/// returned, with the framer ready for the next line: a line protocol can answer
/// "line too long" (SMTP 500) and go on.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::LineFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = LineFramer::new();
/// let mut buf = BytesMut::from("EHLO example.org\r\nQUIT\r\nNO");
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "EHLO example.org");
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "QUIT");
/// assert_eq!(framer.decode(&mut buf).unwrap(), None); // "NO" waits for its line end
///
/// let mut out = BytesMut::new();
/// framer.encode("250 OK", &mut out).unwrap();
/// assert_eq!(&out[..], b"250 OK\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFramer {
    crlf: bool,
    max_length: usize,
    /// Where the search for the next LF resumes (bytes before it hold none).
    next_index: usize,
    /// Skip over-long lines through their end before reporting them.
    discard: bool,
    /// Skipping an over-long line.
    discarding: bool,
}

impl LineFramer {
    /// A CRLF line framer: strips `\r\n` or `\n`, encodes with `\r\n`.
    pub fn new() -> Self {
        LineFramer {
            crlf: true,
            max_length: DEFAULT_MAX_LINE_LENGTH,
            next_index: 0,
            discard: false,
            discarding: false,
        }
    }

    /// An LF line framer: strips `\n` only (CRs are kept), encodes with `\n`.
    pub fn lf() -> Self {
        LineFramer {
            crlf: false,
            ..LineFramer::new()
        }
    }

    /// Sets the maximum line length in bytes, not counting the line ending.
    #[must_use]
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_length = max_frame_length;
        self
    }

    /// Drops an over-long line through its end before returning
    /// [`LineError::TooLong`]; the framer then decodes the next line (default off: the
    /// error comes as soon as the limit is crossed).
    #[must_use]
    pub fn discard_too_long(mut self, on: bool) -> Self {
        self.discard = on;
        self
    }

    /// The maximum line length in bytes.
    pub fn get_max_frame_length(&self) -> usize {
        self.max_length
    }

    /// True in CRLF mode.
    pub fn is_crlf(&self) -> bool {
        self.crlf
    }

    fn too_long(&mut self) -> LineError {
        self.next_index = 0;
        LineError::TooLong {
            limit: self.max_length,
        }
    }
}

impl Default for LineFramer {
    fn default() -> Self {
        LineFramer::new()
    }
}

/// An error of the [`LineFramer`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LineError {
    /// A line is longer than the limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The stream ended in the middle of a line.
    Truncated {
        /// Bytes of the unfinished line.
        buffered: usize,
    },
    /// A frame to encode contains an LF.
    NewlineInFrame,
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => write!(f, "line longer than {limit} bytes"),
            LineError::Truncated { buffered } => {
                write!(
                    f,
                    "stream ended inside a line ({buffered} bytes unterminated)"
                )
            }
            LineError::NewlineInFrame => f.write_str("frame to encode contains a line feed"),
            LineError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(LineError);

impl Decoder for LineFramer {
    type Item = Bytes;
    type Error = LineError;

    #[inline(always)]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        if self.discarding {
            let Some(newline) = find_byte(src, b'\n') else {
                src.clear();
                return Ok(None);
            };
            let _ = src.split_to(newline + 1);
            self.discarding = false;
            return Err(self.too_long());
        }
        let start = self.next_index.min(src.len());
        let Some(offset) = find_byte(&src[start..], b'\n') else {
            self.next_index = src.len();
            // In CRLF mode a trailing CR may be the first half of the line ending.
            let pending = match src.last() {
                Some(b'\r') if self.crlf => src.len() - 1,
                _ => src.len(),
            };
            if pending > self.max_length {
                if self.discard {
                    src.clear();
                    self.next_index = 0;
                    self.discarding = true;
                    return Ok(None);
                }
                return Err(self.too_long());
            }
            return Ok(None);
        };
        let newline = start + offset;
        self.next_index = 0;
        let content = match newline.checked_sub(1) {
            Some(cr) if self.crlf && src[cr] == b'\r' => cr,
            _ => newline,
        };
        if content > self.max_length {
            if self.discard {
                let _ = src.split_to(newline + 1);
            }
            return Err(self.too_long());
        }
        let mut line = take_front(src, newline + 1);
        line.truncate(content);
        Ok(Some(line.freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        match self.decode(src)? {
            Some(line) => Ok(Some(line)),
            None if src.is_empty() => Ok(None),
            None => Err(LineError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LineFramer {
    type Error = LineError;

    #[inline(always)]
    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), LineError> {
        around::encode(self, frame.as_ref(), dst)
    }
}

impl Around for LineFramer {
    type Error = LineError;

    #[inline(always)]
    fn head(&mut self, frame: &[u8], _dst: &mut BytesMut) -> Result<&[u8], LineError> {
        if frame.len() > self.max_length {
            return Err(LineError::TooLong {
                limit: self.max_length,
            });
        }
        if contains_byte(frame, b'\n') {
            return Err(LineError::NewlineInFrame);
        }
        Ok(if self.crlf { b"\r\n" } else { b"\n" })
    }
}
