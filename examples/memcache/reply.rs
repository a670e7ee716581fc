//! The replies of memcached's text protocol as frames, one per request: a pipelined
//! client matches the n-th response to the n-th request, so a `get`'s whole answer
//! (its `VALUE` lines, their data blocks and the final `END`) must be one frame.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// One reply of a memcached server as one frame, CRLFs included: a single line
/// (`STORED`, `NOT_FOUND`, `DELETED`, `ERROR`, `SERVER_ERROR ...`), or every `VALUE`
/// line with its data block up to and including `END`. At most `max` bytes.
pub struct ReplyFramer {
    /// Bytes at the front of the buffer already checked to be whole `VALUE` blocks.
    checked: usize,
    max: usize,
}

impl ReplyFramer {
    pub fn new(max: usize) -> Self {
        ReplyFramer { checked: 0, max }
    }
}

fn bad(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

impl Decoder for ReplyFramer {
    type Item = Bytes;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, std::io::Error> {
        loop {
            let rest = &src[self.checked..];
            let Some(end) = memchr::memmem::find(rest, b"\r\n") else {
                if src.len() > self.max {
                    return Err(bad(format!("reply longer than {} bytes", self.max)));
                }
                return Ok(None);
            };
            let line = &rest[..end];
            if let Some(header) = line.strip_prefix(b"VALUE ") {
                // `VALUE <key> <flags> <bytes> [<cas unique>]`, then the block and CRLF.
                let length = header
                    .split(|&b| b == b' ')
                    .nth(2)
                    .and_then(|word| std::str::from_utf8(word).ok()?.parse::<usize>().ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "bad VALUE line {:?}",
                            String::from_utf8_lossy(line)
                        ))
                    })?;
                let block = self.checked + end + 2 + length + 2;
                if block > self.max {
                    return Err(bad(format!("reply longer than {} bytes", self.max)));
                }
                if src.len() < block {
                    src.reserve(block - src.len());
                    return Ok(None);
                }
                self.checked = block;
                continue;
            }
            let whole = self.checked + end + 2;
            if self.checked > 0 && line != b"END" {
                return Err(bad(format!(
                    "expected END after the values, got {:?}",
                    String::from_utf8_lossy(line)
                )));
            }
            self.checked = 0;
            return Ok(Some(src.split_to(whole).freeze()));
        }
    }
}

/// The values of a `get` reply, as `(key, value)` slices of it.
pub fn values(reply: &Bytes) -> Vec<(Bytes, Bytes)> {
    let mut found = Vec::new();
    let mut rest = reply.clone();
    while let Some(end) = memchr::memmem::find(&rest, b"\r\n") {
        let line = rest.slice(..end);
        rest.advance(end + 2);
        let Some(header) = line.strip_prefix(b"VALUE ") else {
            break;
        };
        let mut words = header.split(|&b| b == b' ');
        let (Some(key), Some(length)) = (words.next(), words.nth(1)) else {
            break;
        };
        let Some(length) = std::str::from_utf8(length)
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
        else {
            break;
        };
        if rest.len() < length + 2 {
            break;
        }
        found.push((line.slice_ref(key), rest.slice(..length)));
        rest.advance(length + 2);
    }
    found
}
