//! The identity framer: whatever has been received is one frame.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::around::{self, Around};
use super::scan::take_front;

/// The identity framer: whatever has been received is one frame.
///
/// ```text
/// bytes on the wire:  | h e l l o |        one read (or one datagram)
/// frame:              | h e l l o |
/// ```
///
/// On a stream, frame boundaries are wherever reads happened to end, so this framer
/// suits datagram transports (one datagram is one frame), raw byte relays, and
/// protocols that do their own parsing. Encoding writes the frame's bytes unchanged.
///
/// It never buffers: every call to `decode` hands out all buffered bytes (split off
/// without copying), so it needs no length limit.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::IdentityFramer;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut framer = IdentityFramer::new();
/// let mut buf = BytesMut::from(&b"\x00\x01raw"[..]);
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), &b"\x00\x01raw"[..]);
/// assert_eq!(framer.decode(&mut buf).unwrap(), None);
///
/// let mut out = BytesMut::new();
/// framer.encode(&b"as is"[..], &mut out).unwrap();
/// assert_eq!(&out[..], b"as is");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityFramer {
    _priv: (),
}

impl IdentityFramer {
    /// Creates the identity framer.
    pub fn new() -> Self {
        IdentityFramer { _priv: () }
    }
}

impl Decoder for IdentityFramer {
    type Item = Bytes;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, io::Error> {
        if src.is_empty() {
            return Ok(None);
        }
        Ok(Some(take_front(src, src.len()).freeze()))
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for IdentityFramer {
    type Error = io::Error;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), io::Error> {
        around::encode(self, frame.as_ref(), dst)
    }
}

impl Around for IdentityFramer {
    type Error = io::Error;

    fn head(&mut self, _frame: &[u8], _dst: &mut BytesMut) -> Result<&[u8], io::Error> {
        Ok(b"")
    }
}
