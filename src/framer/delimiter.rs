//! The delimiter framer: frames end at a chosen byte sequence.

use std::fmt;
use std::io;

use bytes::{Bytes, BytesMut};
use memchr::memmem::Finder;
use tokio_util::codec::{Decoder, Encoder};

use super::around::{self, Around};
use super::line::DEFAULT_MAX_LINE_LENGTH;
use super::scan::{at_eof, partial_match, take_front};
use crate::error::framer_error;

/// The delimiter framer: frames end at a chosen byte sequence.
///
/// ```text
/// delimiter "\0":       | h e l l o \0 | \0 | w o r l d \0 |
/// frames:                 "hello"        ""   "world"
///
/// delimiter "\r\n\r\n": | a : 1 \r \n b : 2 \r \n \r \n |
/// frame:                  "a:1\r\nb:2"
/// ```
///
/// The delimiter is any non-empty byte sequence; it is stripped from decoded frames
/// and appended to encoded ones. A frame to encode that contains the delimiter, or
/// whose end would form the delimiter together with the appended one (frame `a` with
/// delimiter `aa`), is refused with [`DelimiterError::DelimiterInFrame`]: it could not
/// decode back to the same frame.
///
/// # Limits
///
/// A frame longer than [`DelimiterFramer::max_frame_length`] (default
/// [`DEFAULT_MAX_LINE_LENGTH`](super::DEFAULT_MAX_LINE_LENGTH), 64 KiB) is an error as
/// soon as more than the limit has arrived without a delimiter.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::DelimiterFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = DelimiterFramer::new(*b"\0");
/// let mut buf = BytesMut::from(&b"hello\0\0wor"[..]);
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "hello");
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "");
/// assert_eq!(framer.decode(&mut buf).unwrap(), None);
///
/// let mut out = BytesMut::new();
/// framer.encode("json", &mut out).unwrap();
/// assert_eq!(&out[..], b"json\0");
/// ```
#[derive(Debug, Clone)]
pub struct DelimiterFramer {
    delimiter: Finder<'static>,
    max_frame_length: usize,
    /// Where the search for the delimiter resumes.
    search: usize,
}

impl DelimiterFramer {
    /// A framer for `delimiter` with the default limit.
    ///
    /// # Panics
    ///
    /// If `delimiter` is empty.
    pub fn new(delimiter: impl AsRef<[u8]>) -> Self {
        let delimiter = delimiter.as_ref();
        assert!(!delimiter.is_empty(), "the delimiter must not be empty");
        DelimiterFramer {
            delimiter: Finder::new(delimiter).into_owned(),
            max_frame_length: DEFAULT_MAX_LINE_LENGTH,
            search: 0,
        }
    }

    /// Sets the maximum frame length in bytes, not counting the delimiter.
    #[must_use]
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_frame_length = max_frame_length;
        self
    }

    /// The maximum frame length in bytes.
    pub fn get_max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// The delimiter.
    pub fn delimiter(&self) -> &[u8] {
        self.delimiter.needle()
    }

    fn too_long(&mut self) -> DelimiterError {
        self.search = 0;
        DelimiterError::TooLong {
            limit: self.max_frame_length,
        }
    }

    /// True if `frame` followed by the delimiter contains the delimiter anywhere but
    /// at its end.
    fn conflicts(&self, frame: &[u8]) -> bool {
        let d = self.delimiter();
        if self.delimiter.find(frame).is_some() {
            return true;
        }
        // An occurrence starting in the frame's last d.len() - 1 bytes and running into
        // the appended delimiter.
        let tail_start = frame.len().saturating_sub(d.len() - 1);
        (tail_start..frame.len()).any(|start| {
            let inside = frame.len() - start;
            frame[start..] == d[..inside] && d[inside..] == d[..d.len() - inside]
        })
    }
}

/// An error of the [`DelimiterFramer`].
#[derive(Debug)]
#[non_exhaustive]
pub enum DelimiterError {
    /// A frame is longer than the limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A frame to encode contains the delimiter (or ends with part of it such that it
    /// would not decode back).
    DelimiterInFrame,
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes buffered of the unfinished frame.
        buffered: usize,
    },
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for DelimiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DelimiterError::TooLong { limit } => write!(f, "frame longer than {limit} bytes"),
            DelimiterError::DelimiterInFrame => {
                f.write_str("frame to encode contains the delimiter")
            }
            DelimiterError::Truncated { buffered } => {
                write!(f, "stream ended inside a frame ({buffered} bytes buffered)")
            }
            DelimiterError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(DelimiterError);

impl Decoder for DelimiterFramer {
    type Item = Bytes;
    type Error = DelimiterError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DelimiterError> {
        let k = self.delimiter().len();
        let start = self.search.min(src.len());
        let Some(offset) = self.delimiter.find(&src[start..]) else {
            // Only a tail that is the start of the delimiter may still be one.
            self.search = src.len() - partial_match(&src[start..], self.delimiter());
            if self.search > self.max_frame_length {
                return Err(self.too_long());
            }
            return Ok(None);
        };
        let end = start + offset;
        if end > self.max_frame_length {
            return Err(self.too_long());
        }
        self.search = 0;
        let mut frame = take_front(src, end + k);
        frame.truncate(end);
        Ok(Some(frame.freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DelimiterError> {
        let frame = self.decode(src)?;
        at_eof(frame, src, |buffered| DelimiterError::Truncated {
            buffered,
        })
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for DelimiterFramer {
    type Error = DelimiterError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), DelimiterError> {
        around::encode(self, frame.as_ref(), dst)
    }
}

impl Around for DelimiterFramer {
    type Error = DelimiterError;

    fn head(&mut self, frame: &[u8], _dst: &mut BytesMut) -> Result<&[u8], DelimiterError> {
        if frame.len() > self.max_frame_length {
            return Err(DelimiterError::TooLong {
                limit: self.max_frame_length,
            });
        }
        if self.conflicts(frame) {
            return Err(DelimiterError::DelimiterInFrame);
        }
        Ok(self.delimiter.needle())
    }
}
