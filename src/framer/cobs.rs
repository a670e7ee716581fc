//! The COBS framer (Consistent Overhead Byte Stuffing), and the engine it shares with
//! [`CobsZpeFramer`](super::CobsZpeFramer).

use std::fmt;
use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use memchr::{memchr, memchr_iter};
use tokio_util::codec::{Decoder, Encoder};

use super::line::DEFAULT_MAX_LINE_LENGTH;
use crate::error::framer_error;

/// The two code tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Cobs,
    Zpe,
}

impl Variant {
    /// Data bytes and implied zeros of a block with this (non-zero) code.
    fn block(self, code: u8) -> (usize, usize) {
        match (self, code) {
            (Variant::Cobs, 0xFF) => (254, 0),
            (Variant::Zpe, 0xE0) => (223, 0),
            (Variant::Zpe, 0xE1..=0xFF) => (usize::from(code - 0xE1), 2),
            _ => (usize::from(code) - 1, 1),
        }
    }
}

/// The incremental COBS / COBS-ZPE decoder and the canonical encoders.
#[derive(Debug, Clone)]
pub(crate) struct CobsEngine {
    variant: Variant,
    max_frame_length: usize,
    /// Next byte of the frame to account for (a code byte or data of the current block).
    cursor: usize,
    /// Data bytes of the current block not yet received.
    block_left: usize,
    /// Implied zeros of the current block, counted once the next block starts.
    pending: usize,
    /// Decoded bytes so far, not counting `pending`.
    decoded: usize,
    /// Bytes before this index are known to be non-zero.
    scanned: usize,
}

impl CobsEngine {
    pub(crate) fn new(variant: Variant) -> Self {
        CobsEngine {
            variant,
            max_frame_length: DEFAULT_MAX_LINE_LENGTH,
            cursor: 0,
            block_left: 0,
            pending: 0,
            decoded: 0,
            scanned: 0,
        }
    }

    pub(crate) fn set_max_frame_length(&mut self, max_frame_length: usize) {
        self.max_frame_length = max_frame_length;
    }

    pub(crate) fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    fn reset(&mut self) {
        *self = CobsEngine {
            max_frame_length: self.max_frame_length,
            ..CobsEngine::new(self.variant)
        };
    }

    fn fail(&mut self, err: CobsError) -> CobsError {
        self.reset();
        err
    }

    fn check(&mut self, length: usize) -> Result<(), CobsError> {
        if length > self.max_frame_length {
            let limit = self.max_frame_length;
            return Err(self.fail(CobsError::TooLong { limit }));
        }
        Ok(())
    }

    /// Accounts for newly arrived bytes; returns the terminator's index once the frame
    /// is complete.
    fn scan(&mut self, src: &[u8]) -> Result<Option<usize>, CobsError> {
        let terminator = memchr(0, &src[self.scanned..]).map(|i| self.scanned + i);
        let limit = terminator.unwrap_or(src.len());
        self.scanned = limit;
        loop {
            if self.block_left > 0 {
                let take = self.block_left.min(limit - self.cursor);
                self.decoded += take;
                self.block_left -= take;
                self.cursor += take;
                self.check(self.decoded)?;
                if self.block_left > 0 {
                    if terminator.is_some() {
                        return Err(self.fail(CobsError::Malformed));
                    }
                    return Ok(None);
                }
            }
            if self.cursor == limit {
                return Ok(terminator);
            }
            self.decoded += self.pending;
            self.check(self.decoded)?;
            let (data, zeros) = self.variant.block(src[self.cursor]);
            self.block_left = data;
            self.pending = zeros;
            self.cursor += 1;
        }
    }

    pub(crate) fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CobsError> {
        loop {
            let terminator = if self.cursor == 0 {
                // A fresh frame: if it is all here, skip the incremental accounting.
                match memchr(0, src) {
                    Some(terminator) => terminator,
                    None => {
                        self.scanned = src.len();
                        self.accounted(src)?;
                        return Ok(None);
                    }
                }
            } else {
                match self.accounted(src)? {
                    Some(terminator) => terminator,
                    None => return Ok(None),
                }
            };
            let encoded = src.split_to(terminator + 1);
            self.reset();
            if terminator == 0 {
                // An empty block list: an idle delimiter.
                continue;
            }
            return match self.variant {
                Variant::Cobs => unpack_in_place(encoded, self.max_frame_length),
                Variant::Zpe => unpack_zpe(&encoded[..terminator], self.max_frame_length),
            }
            .map(Some);
        }
    }

    /// [`scan`](Self::scan), dropping a malformed frame through its terminator so
    /// that decoding can go on after the error.
    fn accounted(&mut self, src: &mut BytesMut) -> Result<Option<usize>, CobsError> {
        self.scan(src).inspect_err(|err| {
            if matches!(err, CobsError::Malformed) {
                let end = memchr(0, src).map_or(src.len(), |i| i + 1);
                src.advance(end);
            }
        })
    }

    pub(crate) fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CobsError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => {
                let buffered = src.len();
                self.reset();
                Err(CobsError::Truncated { buffered })
            }
        }
    }

    pub(crate) fn encode(&self, frame: &[u8], dst: &mut BytesMut) -> Result<(), CobsError> {
        if frame.len() > self.max_frame_length {
            return Err(CobsError::TooLong {
                limit: self.max_frame_length,
            });
        }
        match self.variant {
            Variant::Cobs => encode_cobs(frame, dst),
            Variant::Zpe => encode_zpe(frame, dst),
        }
        Ok(())
    }
}

/// Decodes a COBS frame (blocks, then the terminator) within its own buffer: each
/// block's data moves left over the code bytes, so writing never overtakes reading.
fn unpack_in_place(mut encoded: BytesMut, max: usize) -> Result<Bytes, CobsError> {
    let terminator = encoded.len() - 1;
    let (mut read, mut write) = (0, 0);
    while read < terminator {
        let (data, zeros) = Variant::Cobs.block(encoded[read]);
        let end = read + 1 + data;
        if end > terminator {
            return Err(CobsError::Malformed);
        }
        encoded.copy_within(read + 1..end, write);
        write += data;
        read = end;
        if zeros == 1 && read < terminator {
            encoded[write] = 0;
            write += 1;
        }
    }
    if write > max {
        return Err(CobsError::TooLong { limit: max });
    }
    encoded.truncate(write);
    Ok(encoded.freeze())
}

/// Decodes a COBS/ZPE frame (without its terminator) into a new buffer: pair codes
/// can decode to more bytes than they occupy, so this cannot be done in place.
fn unpack_zpe(encoded: &[u8], max: usize) -> Result<Bytes, CobsError> {
    // First pass over the code bytes only: validate and size the frame.
    let (mut read, mut length, mut last_zeros) = (0, 0, 0);
    while read < encoded.len() {
        let (data, zeros) = Variant::Zpe.block(encoded[read]);
        read += 1 + data;
        length += data + zeros;
        last_zeros = zeros;
    }
    if read > encoded.len() {
        return Err(CobsError::Malformed);
    }
    // The frame's final implied zero is dropped.
    let length = length - last_zeros.min(1);
    if length > max {
        return Err(CobsError::TooLong { limit: max });
    }
    let mut out = BytesMut::with_capacity(length + 1);
    let mut read = 0;
    while read < encoded.len() {
        let (data, zeros) = Variant::Zpe.block(encoded[read]);
        out.put_slice(&encoded[read + 1..read + 1 + data]);
        out.put_bytes(0, zeros);
        read += 1 + data;
    }
    out.truncate(length);
    Ok(out.freeze())
}

/// Canonical COBS: runs of up to 254 non-zero bytes; no `01` after a final full block.
fn encode_cobs(frame: &[u8], dst: &mut BytesMut) {
    dst.reserve(frame.len() + frame.len() / 254 + 2);
    let mut start = 0;
    // Each run ends at a zero, or at the end of the frame (the implied final zero).
    for end in memchr_iter(0, frame).chain([frame.len()]) {
        let mut run = &frame[start..end];
        let full_blocks = !run.is_empty() && run.len() % 254 == 0;
        while run.len() >= 254 {
            dst.put_u8(0xFF);
            dst.put_slice(&run[..254]);
            run = &run[254..];
        }
        if !(end == frame.len() && full_blocks) {
            dst.put_u8(run.len() as u8 + 1);
            dst.put_slice(run);
        }
        start = end + 1;
    }
    dst.put_u8(0);
}

/// Canonical COBS/ZPE: a pair code whenever a run of at most 30 bytes is followed by
/// two zeros (the frame's implied final zero counts as one).
fn encode_zpe(frame: &[u8], dst: &mut BytesMut) {
    dst.reserve(frame.len() + frame.len() / 223 + 2);
    let mut zeros = memchr_iter(0, frame).peekable();
    let mut start = 0;
    loop {
        let zero = zeros.next();
        let mut run = &frame[start..zero.unwrap_or(frame.len())];
        let full_blocks = !run.is_empty() && run.len() % 223 == 0;
        while run.len() >= 223 {
            dst.put_u8(0xE0);
            dst.put_slice(&run[..223]);
            run = &run[223..];
        }
        let Some(zero) = zero else {
            // The run ends the frame: one implied (final) zero, unless full blocks
            // ended it.
            if !full_blocks {
                dst.put_u8(run.len() as u8 + 1);
                dst.put_slice(run);
            }
            break;
        };
        let final_pair = zero + 1 == frame.len();
        let real_pair = zeros.peek() == Some(&(zero + 1));
        if run.len() <= 30 && (final_pair || real_pair) {
            dst.put_u8(0xE1 + run.len() as u8);
            dst.put_slice(run);
            if final_pair {
                break;
            }
            zeros.next();
            start = zero + 2;
        } else {
            dst.put_u8(run.len() as u8 + 1);
            dst.put_slice(run);
            start = zero + 1;
        }
    }
    dst.put_u8(0);
}

/// The COBS framer (Consistent Overhead Byte Stuffing); see also
/// [`CobsZpeFramer`](super::CobsZpeFramer).
///
/// ```text
/// frame:    11 22 00 33
/// encoded:  03 11 22 02 33 00
///           |        |     `- frame terminator
///           |        `- code 02: one data byte, final implied zero dropped
///           `- code 03: two data bytes, then an implied zero
/// ```
///
/// Frames are terminated by `00`, and `00` appears nowhere else. Each block is a code
/// byte `n` (`01`..`FF`) followed by `n - 1` data bytes and an implied zero, except that
/// `FF` has no implied zero; the frame's final implied zero is dropped. The encoding is
/// canonical (Cheshire & Baker): a frame that ends with a full `FF` block gets no extra
/// `01` block, so decode-then-encode of a canonical stream reproduces it byte for byte.
/// The decoder also accepts the non-canonical trailing `01` block. An empty frame is
/// `01 00`; a lone `00` (an empty block list) is taken as an idle delimiter and skipped,
/// so links may send extra `00` bytes to resynchronise.
///
/// # Limits and errors
///
/// A frame whose decoded length exceeds [`CobsFramer::max_frame_length`] (default
/// [`DEFAULT_MAX_LINE_LENGTH`](super::DEFAULT_MAX_LINE_LENGTH), 64 KiB) is an error as
/// soon as the blocks received decode to more than the limit. A code that runs past the
/// terminator is [`CobsError::Malformed`]; the bad frame is dropped up to and including
/// its terminator first, so a caller that wants to go on can decode the next frame.
/// Frames are decoded in place in the read buffer: no allocation per frame.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::CobsFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = CobsFramer::new();
/// let mut out = BytesMut::new();
/// framer.encode(&[0x11, 0x22, 0x00, 0x33][..], &mut out).unwrap();
/// assert_eq!(&out[..], [0x03, 0x11, 0x22, 0x02, 0x33, 0x00]);
/// assert_eq!(framer.decode(&mut out).unwrap().unwrap(), &[0x11, 0x22, 0x00, 0x33][..]);
/// ```
#[derive(Debug, Clone)]
pub struct CobsFramer {
    engine: CobsEngine,
}

impl CobsFramer {
    /// A COBS framer with the default limit.
    pub fn new() -> Self {
        CobsFramer {
            engine: CobsEngine::new(Variant::Cobs),
        }
    }

    /// Sets the maximum decoded frame length in bytes.
    #[must_use]
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.engine.set_max_frame_length(max_frame_length);
        self
    }

    /// The maximum decoded frame length in bytes.
    pub fn get_max_frame_length(&self) -> usize {
        self.engine.max_frame_length()
    }
}

impl Default for CobsFramer {
    fn default() -> Self {
        CobsFramer::new()
    }
}

/// An error of the [`CobsFramer`] and the [`CobsZpeFramer`](super::CobsZpeFramer).
#[derive(Debug)]
#[non_exhaustive]
pub enum CobsError {
    /// A frame decodes (or, to encode, is) longer than the limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A block's code runs past the frame terminator.
    Malformed,
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes buffered of the unfinished frame.
        buffered: usize,
    },
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for CobsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CobsError::TooLong { limit } => write!(f, "frame longer than {limit} bytes"),
            CobsError::Malformed => f.write_str("malformed frame: a code runs past the terminator"),
            CobsError::Truncated { buffered } => {
                write!(f, "stream ended inside a frame ({buffered} bytes buffered)")
            }
            CobsError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(CobsError);

impl Decoder for CobsFramer {
    type Item = Bytes;
    type Error = CobsError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CobsError> {
        self.engine.decode(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CobsError> {
        self.engine.decode_eof(src)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for CobsFramer {
    type Error = CobsError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), CobsError> {
        self.engine.encode(frame.as_ref(), dst)
    }
}
