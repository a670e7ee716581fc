//! The length-prefix framer: an integer length, then that many bytes.

use std::fmt;
use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::around::{self, Around};
use super::scan::{at_eof, take_front};

use crate::error::framer_error;

/// Default maximum frame length of the binary framers: 8 MiB.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

/// How many bytes buffer space is grown by at most in advance of a payload.
pub(crate) const PREALLOCATE_LIMIT: usize = 64 * 1024;

/// The integer type of a length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthPrefix {
    /// Unsigned, 1 byte (frames up to 255 bytes).
    U8,
    /// Unsigned, 2 bytes.
    U16,
    /// Unsigned, 4 bytes.
    U32,
    /// Unsigned, 8 bytes.
    U64,
    /// Signed, 1 byte (frames up to 127 bytes; negative lengths are errors).
    I8,
    /// Signed, 2 bytes.
    I16,
    /// Signed, 4 bytes.
    I32,
    /// Signed, 8 bytes.
    I64,
}

impl LengthPrefix {
    /// Size of the prefix in bytes.
    pub fn width(self) -> usize {
        match self {
            LengthPrefix::U8 | LengthPrefix::I8 => 1,
            LengthPrefix::U16 | LengthPrefix::I16 => 2,
            LengthPrefix::U32 | LengthPrefix::I32 => 4,
            LengthPrefix::U64 | LengthPrefix::I64 => 8,
        }
    }

    /// True for the signed types.
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            LengthPrefix::I8 | LengthPrefix::I16 | LengthPrefix::I32 | LengthPrefix::I64
        )
    }

    /// The largest length the prefix can express.
    pub fn max_length(self) -> u64 {
        let bits = self.width() as u32 * 8 - u32::from(self.is_signed());
        u64::MAX >> (64 - bits)
    }
}

/// Byte order of a length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Most significant byte first (network byte order).
    BigEndian,
    /// Least significant byte first.
    LittleEndian,
    /// The byte order of the machine running the code.
    Native,
}

impl ByteOrder {
    fn is_big(self) -> bool {
        match self {
            ByteOrder::BigEndian => true,
            ByteOrder::LittleEndian => false,
            ByteOrder::Native => cfg!(target_endian = "big"),
        }
    }
}

/// The length-prefix framer: an integer length, then that many bytes.
///
/// ```text
/// LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian):
///
/// | 0x00 0x05 | h e l l o | 0x00 0x00 | 0x00 0x02 | h i |
///   length 5    payload     length 0    length 2    payload
/// frames:      "hello"      ""                      "hi"
/// ```
///
/// The prefix is an unsigned or signed integer of 1, 2, 4 or 8 bytes
/// ([`LengthPrefix`]) in big, little or native byte order ([`ByteOrder`]) and counts
/// the payload only. This is the original Tendril's struct framer, and the framing of
/// DNS over TCP (`U16`, big-endian) and of many binary RPC protocols.
///
/// # Limits
///
/// A length over [`LengthFramer::max_frame_length`] (default
/// [`DEFAULT_MAX_FRAME_LENGTH`], 8 MiB) or a negative signed length is an error as
/// soon as the prefix has arrived, before any memory is set aside for the payload;
/// buffer space then grows with the bytes that actually arrive, so a peer that
/// announces a large frame and sends nothing holds no large allocation. Encoding a
/// frame over the limit, or longer than the prefix integer can express (300 bytes with
/// a `U8` prefix), is an error, never a truncation.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::{ByteOrder, LengthFramer, LengthPrefix};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian);
/// let mut out = BytesMut::new();
/// framer.encode("hello", &mut out).unwrap();
/// assert_eq!(&out[..], b"\x00\x05hello");
/// assert_eq!(framer.decode(&mut out).unwrap().unwrap(), "hello");
///
/// let mut too_big = LengthFramer::new(LengthPrefix::U8, ByteOrder::BigEndian);
/// assert!(too_big.encode(&[0u8; 300][..], &mut out).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthFramer {
    prefix: LengthPrefix,
    big_endian: bool,
    max_frame_length: usize,
}

impl LengthFramer {
    /// A framer with the given prefix type and byte order, and the default limit.
    pub fn new(prefix: LengthPrefix, order: ByteOrder) -> Self {
        LengthFramer {
            prefix,
            big_endian: order.is_big(),
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
        }
    }

    /// Sets the maximum payload length in bytes.
    #[must_use]
    pub fn max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_frame_length = max_frame_length;
        self
    }

    /// The maximum payload length in bytes.
    pub fn get_max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// The prefix type.
    pub fn prefix(&self) -> LengthPrefix {
        self.prefix
    }

    /// Reads the prefix at the start of `bytes` (which holds at least its width).
    fn read_length(&self, bytes: &[u8]) -> Result<u64, LengthError> {
        let width = self.prefix.width();
        let mut raw = [0u8; 8];
        // Place the prefix as the low-order bytes of a big-endian u64.
        raw[8 - width..].copy_from_slice(&bytes[..width]);
        if !self.big_endian {
            raw[8 - width..].reverse();
        }
        let unsigned = u64::from_be_bytes(raw);
        if !self.prefix.is_signed() {
            return Ok(unsigned);
        }
        // Sign-extend from the prefix width.
        let shift = 64 - 8 * width as u32;
        let signed = ((unsigned << shift) as i64) >> shift;
        u64::try_from(signed).map_err(|_| LengthError::Negative { length: signed })
    }
}

impl Default for LengthFramer {
    /// A 4-byte unsigned big-endian prefix.
    fn default() -> Self {
        LengthFramer::new(LengthPrefix::U32, ByteOrder::BigEndian)
    }
}

/// An error of the [`LengthFramer`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LengthError {
    /// A frame is longer than the limit.
    TooLong {
        /// The announced or given length.
        length: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// A signed prefix holds a negative length.
    Negative {
        /// The length received.
        length: i64,
    },
    /// A frame to encode is longer than the prefix integer can express.
    Overflow {
        /// Length of the frame.
        length: usize,
        /// The largest length the prefix can express.
        max: u64,
    },
    /// The stream ended in the middle of a frame.
    Truncated {
        /// Bytes of the unfinished frame, prefix included.
        buffered: usize,
    },
    /// The underlying I/O failed.
    Io(io::Error),
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LengthError::TooLong { length, limit } => {
                write!(
                    f,
                    "frame length {length} exceeds the limit of {limit} bytes"
                )
            }
            LengthError::Negative { length } => write!(f, "negative frame length {length}"),
            LengthError::Overflow { length, max } => write!(
                f,
                "frame of {length} bytes does not fit the length prefix (max {max})"
            ),
            LengthError::Truncated { buffered } => {
                write!(f, "stream ended inside a frame ({buffered} bytes buffered)")
            }
            LengthError::Io(_) => f.write_str("I/O error"),
        }
    }
}

framer_error!(LengthError);

impl Decoder for LengthFramer {
    type Item = Bytes;
    type Error = LengthError;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LengthError> {
        let width = self.prefix.width();
        if src.len() < width {
            return Ok(None);
        }
        let length = self.read_length(src)?;
        let payload = match usize::try_from(length) {
            Ok(payload) if payload <= self.max_frame_length => payload,
            _ => {
                return Err(LengthError::TooLong {
                    length,
                    limit: self.max_frame_length,
                })
            }
        };
        let missing = (width + payload).saturating_sub(src.len());
        if missing > 0 {
            src.reserve(missing.min(PREALLOCATE_LIMIT));
            return Ok(None);
        }
        src.advance(width);
        Ok(Some(take_front(src, payload).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LengthError> {
        let frame = self.decode(src)?;
        at_eof(frame, src, |buffered| LengthError::Truncated { buffered })
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LengthFramer {
    type Error = LengthError;

    #[inline]
    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), LengthError> {
        around::encode(self, frame.as_ref(), dst)
    }
}

impl Around for LengthFramer {
    type Error = LengthError;

    fn head(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<&[u8], LengthError> {
        let length = frame.len() as u64;
        if length > self.prefix.max_length() {
            return Err(LengthError::Overflow {
                length: frame.len(),
                max: self.prefix.max_length(),
            });
        }
        if frame.len() > self.max_frame_length {
            return Err(LengthError::TooLong {
                length,
                limit: self.max_frame_length,
            });
        }
        let width = self.prefix.width();
        if self.big_endian {
            dst.put_slice(&length.to_be_bytes()[8 - width..]);
        } else {
            dst.put_slice(&length.to_le_bytes()[..width]);
        }
        Ok(b"")
    }
}
