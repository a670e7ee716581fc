//! The COBS/ZPE framer: COBS with zero-pair elimination.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::cobs::{CobsEngine, CobsError, Variant};

/// The COBS/ZPE framer: COBS with zero-pair elimination.
///
/// ```text
/// code        meaning
/// 01 .. DF    n - 1 data bytes, then an implied zero      (as COBS)
/// E0          223 data bytes, no implied zero
/// E1 .. FF    n - E1 data bytes (0 to 30), then two implied zeros
/// 00          frame terminator
///
/// frame:    11 00          encoded:  E2 11 00
/// frame:    00 00          encoded:  E1 01 00
/// ```
///
/// The frame's final implied zero is dropped, as in COBS. The encoding is canonical: a
/// pair code is used whenever a block of at most 30 bytes is followed by two zeros,
/// where the frame's implied final zero counts (so `11 00` is `E2 11 00`), and a frame
/// ending with a full `E0` block gets no extra `01` block. ZPE saves a byte for every
/// pair of zeros, which suits data with many zero pairs (small integers, padding).
///
/// Limits, errors and idle delimiters are as for [`CobsFramer`](super::CobsFramer);
/// because a pair code decodes to more bytes than it occupies, a ZPE frame is decoded
/// into a new buffer of exactly its length.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::CobsZpeFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = CobsZpeFramer::new();
/// let mut out = BytesMut::new();
/// framer.encode(&[0x11, 0x00][..], &mut out).unwrap();
/// assert_eq!(&out[..], [0xE2, 0x11, 0x00]);
/// assert_eq!(framer.decode(&mut out).unwrap().unwrap(), &[0x11, 0x00][..]);
/// ```
#[derive(Debug, Clone)]
pub struct CobsZpeFramer {
    engine: CobsEngine,
}

impl CobsZpeFramer {
    /// A COBS/ZPE framer with the default limit.
    pub fn new() -> Self {
        CobsZpeFramer {
            engine: CobsEngine::new(Variant::Zpe),
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

impl Default for CobsZpeFramer {
    fn default() -> Self {
        CobsZpeFramer::new()
    }
}

impl Decoder for CobsZpeFramer {
    type Item = Bytes;
    type Error = CobsError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CobsError> {
        self.engine.decode(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CobsError> {
        self.engine.decode_eof(src)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for CobsZpeFramer {
    type Error = CobsError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), CobsError> {
        self.engine.encode(frame.as_ref(), dst)
    }
}
