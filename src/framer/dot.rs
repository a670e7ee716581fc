//! The dot framer: a body ended by a line holding only `.`, with dot-unstuffing, as
//! SMTP `DATA` (RFC 5321 §4.5.2), POP3 and NNTP multi-line responses use.

use std::fmt;
use std::io;
use std::sync::LazyLock;

use bytes::{BufMut, Bytes, BytesMut};
use memchr::memchr;
use memchr::memmem::Finder;
use tokio_util::codec::{Decoder, Encoder};

use super::length::DEFAULT_MAX_FRAME_LENGTH;
use crate::error::framer_error;

/// Where a line starting with a dot begins (other than at the start of the frame).
static CRLF_DOT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n."));

/// The end line of a body, with the line ending before it.
static CRLF_DOT_CRLF: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n.\r\n"));

/// The dot framer: a body ended by a line holding only `.`, with dot-unstuffing, as
/// SMTP `DATA` (RFC 5321 §4.5.2), POP3 and NNTP multi-line responses use.
///
/// ```text
/// | S u b j e c t : x \r \n | . . d o t \r \n | . \r \n |
///   line                      stuffed line      end of body
/// frame: "Subject: x\r\n.dot\r\n"
/// ```
///
/// Lines end with CRLF only. The body ends at a line holding only `.`; that line is not
/// part of the frame, but the CRLF ending the line before it is (the frame is the
/// message exactly as sent, with its line endings). A line that starts with `.` has that
/// first dot removed, so `..` at a line start becomes `.`.
///
/// Only CRLF `.` CRLF ends a body: a bare LF or CR is data, so `\n.\n`, `\r.\r` or
/// `\r\n.\n` inside a message never end it. Servers that disagree with the next hop on
/// this are what SMTP smuggling exploits.
///
/// Encoding dot-stuffs every line that starts with `.`, appends CRLF if the frame is
/// not empty and does not end with one, then appends the `.` line. A frame round trips
/// exactly when it is empty or ends with CRLF.
///
/// # Limits
///
/// A body longer than [`DotFramer::max_frame_length`] (default
/// [`DEFAULT_MAX_FRAME_LENGTH`](super::DEFAULT_MAX_FRAME_LENGTH), 8 MiB) is an error as
/// soon as more than the limit has arrived. Unstuffing happens in place in the read
/// buffer.
///
/// With [`discard_too_long`](DotFramer::discard_too_long), an over-long body is instead
/// read through its end line and dropped as it arrives (memory stays bounded), and only
/// then is `TooLong` returned, with the framer ready for what follows: a server can
/// answer "message too big" (SMTP 552) and go on with the session.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::DotFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = DotFramer::new();
/// let mut buf = BytesMut::from("Subject: x\r\n..dot\r\n.\r\nQUIT\r\n");
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "Subject: x\r\n.dot\r\n");
/// assert_eq!(&buf[..], b"QUIT\r\n"); // left for the next framer
///
/// let mut out = BytesMut::new();
/// framer.encode(".hidden\r\n", &mut out).unwrap();
/// assert_eq!(&out[..], b"..hidden\r\n.\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotFramer {
    max_frame_length: usize,
    /// Length of the unstuffed body compacted at the start of the buffer.
    out: usize,
    /// Start of the current line (the bytes before it up to `out` are dead).
    read: usize,
    /// Where the search for the current line's LF resumes.
    search: usize,
    /// Skip over-long bodies through their end line before reporting them.
    discard: bool,
    /// Skipping an over-long body.
    discarding: bool,
    /// While skipping: the buffer starts at a line start.
    at_line_start: bool,
}

impl DotFramer {
    /// A dot framer with the default limit.
    pub fn new() -> Self {
        DotFramer {
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            out: 0,
            read: 0,
            search: 0,
            discard: false,
            discarding: false,
            at_line_start: false,
        }
    }

    /// Reads an over-long body through its end line, dropping it as it arrives, before
    /// returning [`DotError::TooLong`]; the framer then decodes what follows (default
    /// off: the error comes as soon as the limit is crossed).
    #[must_use]
    pub fn discard_too_long(mut self, on: bool) -> Self {
        self.discard = on;
        self
    }

    /// Sets the maximum body length in bytes (after unstuffing).
    #[must_use]
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_frame_length = max_frame_length;
        self
    }

    /// The maximum body length in bytes.
    pub fn get_max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    fn reset(&mut self) {
        self.out = 0;
        self.read = 0;
        self.search = 0;
    }

    fn check(&mut self, length: usize, src: &mut BytesMut) -> Result<(), DotError> {
        if length > self.max_frame_length {
            if self.discard {
                // The body so far is dropped; the current line starts at `read`.
                let _ = src.split_to(self.read);
                self.reset();
                self.discarding = true;
                self.at_line_start = true;
                return Ok(());
            }
            self.reset();
            return Err(self.too_long());
        }
        Ok(())
    }

    fn too_long(&self) -> DotError {
        DotError::TooLong {
            limit: self.max_frame_length,
        }
    }

    /// Skips raw input through the end line of an over-long body, keeping at most the
    /// four bytes that may begin it. True once the end line is consumed.
    fn skip(&mut self, src: &mut BytesMut) -> bool {
        if self.at_line_start {
            if src.starts_with(b".\r\n") {
                let _ = src.split_to(3);
                return true;
            }
            if b".\r".starts_with(&src[..]) {
                return false; // empty, "." or ".\r": wait for more
            }
            self.at_line_start = false;
        }
        if let Some(at) = CRLF_DOT_CRLF.find(src) {
            let _ = src.split_to(at + 5);
            return true;
        }
        let keep = src.len().min(4);
        let _ = src.split_to(src.len() - keep);
        false
    }
}

impl Default for DotFramer {
    fn default() -> Self {
        DotFramer::new()
    }
}

/// An error of the [`DotFramer`].
#[derive(Debug)]
#[non_exhaustive]
pub enum DotError {
    /// A body is longer than the limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The stream ended before the `.` line.
    Truncated {
        /// Bytes buffered of the unfinished body.
        buffered: usize,
    },
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for DotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DotError::TooLong { limit } => write!(f, "body longer than {limit} bytes"),
            DotError::Truncated { buffered } => write!(
                f,
                "stream ended before the end-of-body line ({buffered} bytes buffered)"
            ),
            DotError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(DotError);

impl Decoder for DotFramer {
    type Item = Bytes;
    type Error = DotError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DotError> {
        loop {
            if self.discarding {
                if !self.skip(src) {
                    return Ok(None);
                }
                self.discarding = false;
                return Err(self.too_long());
            }
            let line = &src[self.read..];
            let newline = memchr(b'\n', &src[self.search..]).map(|i| self.search + i);
            let Some(newline) = newline.filter(|&n| n > self.read && src[n - 1] == b'\r') else {
                if let Some(bare) = newline {
                    // A bare LF is data: keep looking on this line.
                    self.search = bare + 1;
                    continue;
                }
                self.search = src.len();
                // Bytes of this line that are certainly body: all but a leading dot
                // (removed), and none while it may still be the end-of-body line.
                let certain = match line {
                    b"." | b".\r" => 0,
                    _ => line.len() - usize::from(line.first() == Some(&b'.')),
                };
                self.check(self.out + certain, src)?;
                if self.discarding {
                    continue;
                }
                return Ok(None);
            };
            let end = newline + 1;
            if end - self.read == 3 && src[self.read] == b'.' {
                let mut body = src.split_to(end);
                body.truncate(self.out);
                self.reset();
                return Ok(Some(body.freeze()));
            }
            if src[self.read] == b'.' {
                self.read += 1;
            }
            if self.out != self.read {
                src.copy_within(self.read..end, self.out);
            }
            self.out += end - self.read;
            self.read = end;
            self.search = end;
            self.check(self.out, src)?;
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DotError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                let buffered = src.len();
                self.reset();
                self.discarding = false;
                if buffered == 0 {
                    return Ok(None);
                }
                Err(DotError::Truncated { buffered })
            }
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for DotFramer {
    type Error = DotError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), DotError> {
        let frame = frame.as_ref();
        if frame.len() > self.max_frame_length {
            return Err(DotError::TooLong {
                limit: self.max_frame_length,
            });
        }
        dst.reserve(frame.len() + frame.len() / 64 + 5);
        let mut written = 0;
        if frame.first() == Some(&b'.') {
            dst.put_u8(b'.');
        }
        // Every line after a CRLF that starts with a dot gets another one.
        for crlf in CRLF_DOT.find_iter(frame) {
            dst.put_slice(&frame[written..crlf + 2]);
            dst.put_u8(b'.');
            written = crlf + 2;
        }
        dst.put_slice(&frame[written..]);
        if !frame.is_empty() && !frame.ends_with(b"\r\n") {
            dst.put_slice(b"\r\n");
        }
        dst.put_slice(b".\r\n");
        Ok(())
    }
}
