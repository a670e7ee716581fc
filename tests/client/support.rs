//! Helpers shared by the client tests.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tendril_net::client::Tagger;

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(20);

pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("timed out")
}

pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

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
