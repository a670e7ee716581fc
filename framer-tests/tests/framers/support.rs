//! Helpers shared by the framer tests.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Feeds `chunks` one after another, decoding after each, then decodes to the end of
/// the stream. Stops at the first error.
pub fn decode_chunks<'a, D: Decoder>(
    decoder: &mut D,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<D::Item>, D::Error> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.decode(&mut buf)? {
            frames.push(frame);
        }
    }
    while let Some(frame) = decoder.decode_eof(&mut buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

/// Decodes `input` given in one piece.
pub fn decode_all<D: Decoder>(decoder: &mut D, input: &[u8]) -> Result<Vec<D::Item>, D::Error> {
    decode_chunks(decoder, [input])
}

/// Decodes `input` fed one byte at a time.
pub fn decode_bytewise<D: Decoder>(
    decoder: &mut D,
    input: &[u8],
) -> Result<Vec<D::Item>, D::Error> {
    decode_chunks(decoder, input.chunks(1))
}

/// Cuts `input` at the given points (any order, any values; out of range is clamped).
pub fn split_at(input: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = points.iter().map(|&p| p.min(input.len())).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points.into_iter().chain([input.len()]) {
        pieces.push(input[start..point].to_vec());
        start = point;
    }
    pieces
}

/// Decodes `input` cut at `points`.
pub fn decode_split<D: Decoder>(
    decoder: &mut D,
    input: &[u8],
    points: &[usize],
) -> Result<Vec<D::Item>, D::Error> {
    let pieces = split_at(input, points);
    decode_chunks(decoder, pieces.iter().map(Vec::as_slice))
}

/// Encodes every frame into one buffer.
pub fn encode_all<E, F>(encoder: &mut E, frames: &[F]) -> Result<BytesMut, E::Error>
where
    E: Encoder<Bytes>,
    F: AsRef<[u8]>,
{
    let mut out = BytesMut::new();
    for frame in frames {
        encoder.encode(Bytes::copy_from_slice(frame.as_ref()), &mut out)?;
    }
    Ok(out)
}

/// Turns decoded frames into vectors for comparison.
pub fn to_vecs(frames: Vec<Bytes>) -> Vec<Vec<u8>> {
    frames.into_iter().map(|f| f.to_vec()).collect()
}

/// The round-trip property: frames encoded by a fresh framer decode back to the same
/// frames whole, one byte at a time, and cut at `points`.
pub fn assert_round_trip<C, M>(make: M, frames: &[Vec<u8>], points: &[usize])
where
    C: Decoder<Item = Bytes> + Encoder<Bytes>,
    <C as Decoder>::Error: std::fmt::Debug,
    <C as Encoder<Bytes>>::Error: std::fmt::Debug,
    M: Fn() -> C,
{
    let wire = encode_all(&mut make(), frames).expect("encode");
    let whole = to_vecs(decode_all(&mut make(), &wire).expect("decode whole"));
    assert_eq!(whole, frames, "whole; wire = {:02x?}", &wire[..]);
    let bytewise = to_vecs(decode_bytewise(&mut make(), &wire).expect("decode bytewise"));
    assert_eq!(bytewise, frames, "bytewise; wire = {:02x?}", &wire[..]);
    let split = to_vecs(decode_split(&mut make(), &wire, points).expect("decode split"));
    assert_eq!(
        split,
        frames,
        "split at {points:?}; wire = {:02x?}",
        &wire[..]
    );
}

/// The split-independence property for any input: the outcome (frames, or the frames
/// before an error) does not depend on how the input is cut.
pub fn assert_split_independent<D, M>(make: M, input: &[u8], points: &[usize])
where
    D: Decoder<Item = Bytes>,
    M: Fn() -> D,
{
    let whole = decode_all(&mut make(), input).map(to_vecs).ok();
    let bytewise = decode_bytewise(&mut make(), input).map(to_vecs).ok();
    let split = decode_split(&mut make(), input, points).map(to_vecs).ok();
    assert_eq!(whole, bytewise, "bytewise differs for {input:02x?}");
    assert_eq!(whole, split, "split at {points:?} differs for {input:02x?}");
}

/// Decodes arbitrary input cut at `points`, ignoring the outcome: it must not panic,
/// and after an error the framer must still not panic on more input.
pub fn assert_no_panic<D, M>(make: M, input: &[u8], points: &[usize])
where
    D: Decoder,
    M: Fn() -> D,
{
    let mut decoder = make();
    let mut buf = BytesMut::new();
    for piece in split_at(input, points) {
        buf.extend_from_slice(&piece);
        // Bounded: each successful decode consumes input or ends the loop.
        for _ in 0..=input.len() + 1 {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }
    let _ = decoder.decode_eof(&mut buf);
}

/// Random cut points for an input of up to `max` bytes.
pub fn points(max: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=max, 0..6)
}

/// Byte strings drawn mostly from `favourites` (the bytes a format treats specially),
/// sometimes any byte.
pub fn biased_bytes(favourites: &'static [u8], max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => prop::sample::select(favourites),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..=max_len)
}

/// Feeds `input` cut at `points`, decoding after each piece and recording errors as
/// items instead of stopping (for framers that recover after an error).
pub fn decode_recovering<D>(
    decoder: &mut D,
    input: &[u8],
    points: &[usize],
) -> Vec<Result<Bytes, String>>
where
    D: Decoder<Item = Bytes>,
    D::Error: std::fmt::Display,
{
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in split_at(input, points) {
        buf.extend_from_slice(&piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(err) => out.push(Err(err.to_string())),
            }
        }
    }
    out
}
