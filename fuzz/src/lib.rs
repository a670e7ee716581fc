//! Oracles shared by the fuzz targets.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Decodes `input` fed in pieces whose sizes come from `sizes` (cycled), then to the
/// end of the stream. Stops at the first error; returns the frames and whether it
/// ended in an error.
pub fn decode_pieces<D: Decoder>(decoder: &mut D, input: &[u8], sizes: &[u8]) -> (Vec<D::Item>, bool) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes.get(i % sizes.len().max(1)).map_or(rest.len(), |&s| usize::from(s) + 1);
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        i += 1;
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, false),
            Err(_) => return (frames, true),
        }
    }
}

/// The oracle for a framer: any input, however it is cut, gives the same outcome as
/// the whole input, never panics, and the frames it yields re-encode to a stream that
/// decodes back to the same frames.
pub fn check<C, M>(make: M, data: &[u8])
where
    C: Decoder<Item = Bytes> + Encoder<Bytes>,
    <C as Encoder<Bytes>>::Error: std::fmt::Debug,
    M: Fn() -> C,
{
    let (sizes, input) = data.split_at(data.len().min(4));
    let (whole, whole_failed) = decode_pieces(&mut make(), input, &[]);
    let (cut, cut_failed) = decode_pieces(&mut make(), input, sizes);
    if !whole_failed && !cut_failed {
        assert_eq!(whole, cut, "the outcome depends on how the input is cut");
    }
    assert_eq!(whole_failed, cut_failed, "an error depends on how the input is cut");
    let mut wire = BytesMut::new();
    let mut encoder = make();
    for frame in &cut {
        encoder.encode(frame.clone(), &mut wire).expect("a decoded frame must re-encode");
    }
    let (again, failed) = decode_pieces(&mut make(), &wire, sizes);
    assert!(!failed, "re-encoded frames must decode");
    assert_eq!(again, cut, "re-encoded frames must decode to themselves");
}
