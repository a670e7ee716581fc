//! The byte-stuffing framer: frames between begin and end markers.

use std::fmt;
use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use memchr::memmem::Finder;
use tokio_util::codec::{Decoder, Encoder};

use super::line::DEFAULT_MAX_LINE_LENGTH;
use super::scan::partial_match;
use crate::error::framer_error;

/// The byte-stuffing framer: frames between begin and end markers.
///
/// ```text
/// defaults: prefix P = FF FF FF FF, begin B = FF, end E = FE, nop N = 00
///
/// | P B | d a t a | P N | m o r e | P E |
///   begin  data     an escaped P   data   end
/// frame:  "data" P "more"
/// ```
///
/// A frame starts at prefix + begin and ends at prefix + end. Inside a frame, prefix +
/// nop stands for the prefix itself, and a prefix followed by any other byte is plain
/// data (the prefix's first byte is data and the scan goes on at the next byte).
/// Bytes outside a frame, before a begin marker, are skipped: a receiver that joins
/// mid-stream or meets garbage resynchronises at the next begin marker (the count of
/// skipped bytes is [`StuffingFramer::skipped`]). Garbage that happens to end with
/// bytes of the prefix can make the first frame after it start early; every frame
/// after that one is exact.
///
/// The encoder escapes every copy of the prefix in the frame (found left to right,
/// without overlap) as prefix + nop, exactly as the original Tendril encodes
/// (`frame.split(prefix)` joined with prefix + nop), so a frame gives the same bytes
/// from both; the decoder also accepts a bare prefix followed by an ordinary byte.
/// Every frame round trips, including frames that contain the markers or end with
/// part of the prefix. That can only hold when the
/// prefix itself never looks like "data, then prefix + nop/end" across the frame's end;
/// [`StuffingBuilder::build`] checks this and rejects marker sets for which some frame
/// could not round trip (for example prefix `ab` with end `a`).
///
/// # Limits
///
/// A frame longer than [`StuffingFramer::max_frame_length`] (default
/// [`DEFAULT_MAX_LINE_LENGTH`](super::DEFAULT_MAX_LINE_LENGTH), 64 KiB) is an error as
/// soon as more than the limit of frame data has arrived. Skipped garbage is never
/// buffered beyond the length of the prefix.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::StuffingFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = StuffingFramer::builder()
///     .prefix(*b"zzz").begin(b'z').end(b'w').nop(b'a')
///     .build()
///     .unwrap();
/// let mut out = BytesMut::new();
/// // Every "zzz" in the frame becomes "zzz" + nop.
/// framer.encode("lazzzy", &mut out).unwrap();
/// assert_eq!(&out[..], b"zzzzlazzzayzzzw");
/// assert_eq!(framer.decode(&mut out).unwrap().unwrap(), "lazzzy");
///
/// // What a bare "zzz" then "y" would mean is accepted too.
/// out.extend_from_slice(b"zzzzlazzzyzzzw");
/// assert_eq!(framer.decode(&mut out).unwrap().unwrap(), "lazzzy");
///
/// framer.encode("zzza", &mut out).unwrap();
/// assert_eq!(&out[..], b"zzzzzzzaazzzw");
/// assert_eq!(framer.decode(&mut out).unwrap().unwrap(), "zzza");
/// ```
#[derive(Debug, Clone)]
pub struct StuffingFramer {
    prefix: Finder<'static>,
    begin: u8,
    end: u8,
    nop: u8,
    max_frame_length: usize,
    in_frame: bool,
    /// Length of the unescaped frame data compacted at the start of the buffer.
    out: usize,
    /// Start of frame data not yet moved into place.
    read: usize,
    /// Where the search for the next prefix resumes.
    search: usize,
    skipped: u64,
}

impl StuffingFramer {
    /// A framer with the default markers (prefix `FF FF FF FF`, begin `FF`, end `FE`,
    /// nop `00`) and the default limit.
    pub fn new() -> Self {
        StuffingBuilder::new()
            .build()
            .expect("the default markers are valid")
    }

    /// A builder to choose the markers and the limit.
    pub fn builder() -> StuffingBuilder {
        StuffingBuilder::new()
    }

    /// Sets the maximum frame length in bytes (unescaped data).
    #[must_use]
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_frame_length = max_frame_length;
        self
    }

    /// The maximum frame length in bytes.
    pub fn get_max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// Bytes skipped so far because they were outside any frame.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn prefix_len(&self) -> usize {
        self.prefix.needle().len()
    }

    fn reset(&mut self) {
        self.in_frame = false;
        self.out = 0;
        self.read = 0;
        self.search = 0;
    }

    /// Outside a frame: skips to just after the next begin marker. Returns false when
    /// more bytes are needed.
    fn find_begin(&mut self, src: &mut BytesMut) -> bool {
        let k = self.prefix_len();
        loop {
            let Some(p) = self.prefix.find(src) else {
                let keep = (k - 1).min(src.len());
                self.skip(src, src.len() - keep);
                return false;
            };
            if p + k >= src.len() {
                self.skip(src, p);
                return false;
            }
            if src[p + k] == self.begin {
                self.skip(src, p);
                src.advance(k + 1);
                self.in_frame = true;
                return true;
            }
            self.skip(src, p + 1);
        }
    }

    fn skip(&mut self, src: &mut BytesMut, n: usize) {
        src.advance(n);
        self.skipped += n as u64;
    }

    /// Moves the data `read..upto` next to the data already in place.
    fn settle(&mut self, src: &mut BytesMut, upto: usize) {
        if self.out != self.read {
            src.copy_within(self.read..upto, self.out);
        }
        self.out += upto - self.read;
        self.read = upto;
    }

    fn check_limit(&mut self) -> Result<(), StuffingError> {
        if self.out + (self.search - self.read) > self.max_frame_length {
            self.reset();
            return Err(StuffingError::TooLong {
                limit: self.max_frame_length,
            });
        }
        Ok(())
    }
}

impl Default for StuffingFramer {
    fn default() -> Self {
        StuffingFramer::new()
    }
}

/// Builds a [`StuffingFramer`] with custom markers.
#[derive(Debug, Clone)]
#[must_use = "a builder setter returns the updated builder"]
pub struct StuffingBuilder {
    prefix: Vec<u8>,
    begin: u8,
    end: u8,
    nop: u8,
    max_frame_length: usize,
}

impl StuffingBuilder {
    /// A builder holding the defaults.
    pub fn new() -> Self {
        StuffingBuilder {
            prefix: vec![0xFF; 4],
            begin: 0xFF,
            end: 0xFE,
            nop: 0x00,
            max_frame_length: DEFAULT_MAX_LINE_LENGTH,
        }
    }

    /// Sets the prefix that introduces every marker.
    pub fn prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the byte that, after the prefix, begins a frame.
    pub fn begin(mut self, begin: u8) -> Self {
        self.begin = begin;
        self
    }

    /// Sets the byte that, after the prefix, ends a frame.
    pub fn end(mut self, end: u8) -> Self {
        self.end = end;
        self
    }

    /// Sets the byte that, after the prefix, stands for the prefix as data.
    pub fn nop(mut self, nop: u8) -> Self {
        self.nop = nop;
        self
    }

    /// Sets the maximum frame length in bytes (unescaped data).
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_frame_length = max_frame_length;
        self
    }

    /// Checks the markers and builds the framer.
    ///
    /// # Errors
    ///
    /// [`InvalidMarkers`] when the prefix is empty, begin equals end, nop equals begin
    /// or end, or some frame could not round trip with these markers.
    pub fn build(&self) -> Result<StuffingFramer, InvalidMarkers> {
        let p = &self.prefix;
        if p.is_empty() {
            return Err(InvalidMarkers::EmptyPrefix);
        }
        if self.begin == self.end {
            return Err(InvalidMarkers::BeginIsEnd);
        }
        if self.nop == self.begin || self.nop == self.end {
            return Err(InvalidMarkers::NopIsMarker);
        }
        // A frame ending with p[..k-m], where p[..m] is also a suffix of p, is followed
        // on the wire by the end marker's prefix: together they contain the prefix,
        // followed by p[m]. If p[m] is nop or end, the decoder would stop there.
        let k = p.len();
        for m in 0..k {
            let border = p[..m] == p[k - m..];
            if border && (p[m] == self.nop || p[m] == self.end) {
                return Err(InvalidMarkers::Ambiguous { overlap: m });
            }
        }
        Ok(StuffingFramer {
            prefix: Finder::new(p).into_owned(),
            begin: self.begin,
            end: self.end,
            nop: self.nop,
            max_frame_length: self.max_frame_length,
            in_frame: false,
            out: 0,
            read: 0,
            search: 0,
            skipped: 0,
        })
    }
}

impl Default for StuffingBuilder {
    fn default() -> Self {
        StuffingBuilder::new()
    }
}

/// A marker configuration rejected by [`StuffingBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidMarkers {
    /// The prefix is empty.
    EmptyPrefix,
    /// The begin and end bytes are equal.
    BeginIsEnd,
    /// The nop byte equals the begin or the end byte.
    NopIsMarker,
    /// A frame ending with part of the prefix would not round trip: the prefix's
    /// byte at index `overlap` is the nop or end byte, and the prefix's first
    /// `overlap` bytes are also its last ones.
    Ambiguous {
        /// Length of the prefix overlap that causes the ambiguity.
        overlap: usize,
    },
}

impl fmt::Display for InvalidMarkers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidMarkers::EmptyPrefix => f.write_str("the stuffing prefix is empty"),
            InvalidMarkers::BeginIsEnd => f.write_str("the begin and end bytes are equal"),
            InvalidMarkers::NopIsMarker => {
                f.write_str("the nop byte equals the begin or the end byte")
            }
            InvalidMarkers::Ambiguous { overlap } => write!(
                f,
                "ambiguous markers: a frame ending with part of the prefix would read as a \
                 marker (the prefix byte at index {overlap} is the nop or end byte)"
            ),
        }
    }
}

impl std::error::Error for InvalidMarkers {}

/// An error of the [`StuffingFramer`].
#[derive(Debug)]
#[non_exhaustive]
pub enum StuffingError {
    /// A frame is longer than the limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes buffered of the unfinished frame.
        buffered: usize,
    },
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for StuffingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StuffingError::TooLong { limit } => write!(f, "frame longer than {limit} bytes"),
            StuffingError::Truncated { buffered } => {
                write!(f, "stream ended inside a frame ({buffered} bytes buffered)")
            }
            StuffingError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(StuffingError);

impl Decoder for StuffingFramer {
    type Item = Bytes;
    type Error = StuffingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, StuffingError> {
        if !self.in_frame && !self.find_begin(src) {
            return Ok(None);
        }
        let k = self.prefix_len();
        loop {
            let Some(offset) = self.prefix.find(&src[self.search..]) else {
                // Only a tail that is the start of a prefix may still be a marker.
                let partial = partial_match(&src[self.search..], self.prefix.needle());
                self.search = src.len() - partial;
                self.check_limit()?;
                return Ok(None);
            };
            let p = self.search + offset;
            let control = p + k;
            if control >= src.len() {
                self.search = p;
                self.check_limit()?;
                return Ok(None);
            }
            let byte = src[control];
            if byte == self.end {
                self.settle(src, p);
                self.search = p;
                self.check_limit()?;
                let mut frame = src.split_to(control + 1);
                frame.truncate(self.out);
                self.reset();
                return Ok(Some(frame.freeze()));
            }
            if byte == self.nop {
                // The prefix is data; the nop byte is dropped.
                self.settle(src, control);
                self.read = control + 1;
                self.search = control + 1;
            } else {
                self.search = p + 1;
            }
            self.check_limit()?;
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, StuffingError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        if self.in_frame {
            let buffered = src.len();
            self.reset();
            return Err(StuffingError::Truncated { buffered });
        }
        // Garbage outside a frame is skipped, not an error.
        let rest = src.len();
        self.skip(src, rest);
        Ok(None)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for StuffingFramer {
    type Error = StuffingError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), StuffingError> {
        let frame = frame.as_ref();
        if frame.len() > self.max_frame_length {
            return Err(StuffingError::TooLong {
                limit: self.max_frame_length,
            });
        }
        let prefix = self.prefix.needle();
        let k = prefix.len();
        dst.reserve(frame.len() + 2 * (k + 1) + 8);
        dst.put_slice(prefix);
        dst.put_u8(self.begin);
        // Every prefix copy in the frame is followed by a nop, as the original
        // Tendril encodes (`frame.split(prefix)` joined with prefix + nop): the same
        // frame gives the same bytes from both. Copies are found left to right, without
        // overlap.
        let mut written = 0;
        while let Some(offset) = self.prefix.find(&frame[written..]) {
            let after = written + offset + k;
            dst.put_slice(&frame[written..after]);
            dst.put_u8(self.nop);
            written = after;
        }
        dst.put_slice(&frame[written..]);
        dst.put_slice(prefix);
        dst.put_u8(self.end);
        Ok(())
    }
}
