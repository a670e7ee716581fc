//! Helpers shared by the client tests (and, re-exported, those of every test crate).

#[path = "../support/net.rs"]
mod net;
pub use net::*;

use bytes::{BufMut, Bytes, BytesMut};
use tendril_net::client::Tagger;

/// Frames whose first two bytes are the tag (big endian), the rest the payload.
pub struct FirstTwoBytes;

impl Tagger<Bytes, Bytes> for FirstTwoBytes {
    fn tag(&self, request: Bytes, tag: u64) -> Bytes {
        let mut tagged = BytesMut::with_capacity(request.len() + 2);
        tagged.put_u16(tag as u16);
        tagged.extend_from_slice(&request);
        tagged.freeze()
    }

    fn tag_of(&self, response: &Bytes) -> Option<u64> {
        (response.len() >= 2).then(|| u64::from(u16::from_be_bytes([response[0], response[1]])))
    }
}

/// The payload of a tagged frame.
pub fn payload(frame: &Bytes) -> Bytes {
    frame.slice(2..)
}
