//! The shape of every send framer that does not rewrite a frame's bytes: a header
//! (a length prefix, `LEN:`, `Content-Length: N`), the frame's bytes unchanged, a
//! trailer (a delimiter, `,`). Written that way once here, so that a connection can
//! also send a large frame's bytes straight from the frame, a slice of a vectored
//! write between the header and the trailer, instead of copying them into its write
//! buffer.

use bytes::{BufMut, BytesMut};

/// A send framer that puts a frame's bytes on the wire unchanged, between a header
/// and a trailer.
pub(crate) trait Around {
    type Error;

    /// Checks `frame`, writes what goes before it into `dst` and returns what goes
    /// after it.
    fn head(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<&[u8], Self::Error>;
}

/// Encodes `frame` into `dst`: its header, its bytes, its trailer.
#[inline(always)]
pub(crate) fn encode<A: Around>(
    framer: &mut A,
    frame: &[u8],
    dst: &mut BytesMut,
) -> Result<(), A::Error> {
    let tail = framer.head(frame, dst)?;
    dst.reserve(frame.len() + tail.len());
    dst.put_slice(frame);
    put_tail(tail, dst);
    Ok(())
}

/// A trailer is most often one byte (`\n`, `,`) or none: stored, not copied.
#[inline(always)]
fn put_tail(tail: &[u8], dst: &mut BytesMut) {
    match tail {
        [] => {}
        [byte] => dst.put_u8(*byte),
        _ => dst.put_slice(tail),
    }
}

/// Writes `frame`'s header and trailer into `dst` and returns where in `dst` the
/// frame's own bytes go, between them.
#[inline]
pub(crate) fn split<A: Around>(
    framer: &mut A,
    frame: &[u8],
    dst: &mut BytesMut,
) -> Result<usize, A::Error> {
    let tail = framer.head(frame, dst)?;
    let at = dst.len();
    put_tail(tail, dst);
    Ok(at)
}
