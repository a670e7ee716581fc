//! Helpers shared by the framers: scanning for a byte sequence, and taking a frame off
//! the front of the read buffer.

use bytes::{Bytes, BytesMut};

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` equal to the byte repeated in `pattern`, as the high bit of each
/// (exact as far as the lowest match: bits above it may be false positives).
#[inline(always)]
fn matches(word: u64, pattern: u64) -> u64 {
    let x = word ^ pattern;
    x.wrapping_sub(LO) & !x & HI
}

#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    u64::from_le_bytes(word)
}

/// Where `byte` first occurs in `haystack`. Short frames are the common case of a line
/// protocol, and for them the set-up of a vector search costs more than the search:
/// the first 32 bytes are scanned a word at a time, the rest with `memchr`.
#[inline(always)]
pub(crate) fn find_byte(haystack: &[u8], byte: u8) -> Option<usize> {
    let pattern = LO.wrapping_mul(u64::from(byte));
    let head = &haystack[..haystack.len().min(32)];
    let mut chunks = head.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let found = matches(word(chunk), pattern);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if haystack.len() < 32 {
        let rest = chunks.remainder();
        return rest.iter().position(|&b| b == byte).map(|i| at + i);
    }
    memchr::memchr(byte, &haystack[32..]).map(|i| 32 + i)
}

/// True if `haystack` contains `byte` (the check an encoder makes on every frame):
/// overlapping words for slices of 8 to 64 bytes, `memchr` beyond.
#[inline(always)]
pub(crate) fn contains_byte(haystack: &[u8], byte: u8) -> bool {
    let len = haystack.len();
    if len < 8 {
        return haystack.contains(&byte);
    }
    if len > 64 {
        return memchr::memchr(byte, haystack).is_some();
    }
    let pattern = LO.wrapping_mul(u64::from(byte));
    let last = len - 8;
    let mut at = 0;
    while at < last {
        if matches(word(&haystack[at..at + 8]), pattern) != 0 {
            return true;
        }
        at += 8;
    }
    // The last word, overlapping the ones before, covers the remainder.
    matches(word(&haystack[last..]), pattern) != 0
}

/// Takes the first `n` bytes of `src` as a frame. When they are the whole buffer,
/// to the end of its allocation (a buffer sized to the data), the buffer itself is
/// taken: no shared allocation is made, and the frame owns exactly its bytes.
#[inline]
pub(crate) fn take_front(src: &mut BytesMut, n: usize) -> BytesMut {
    if n == src.len() && n == src.capacity() {
        std::mem::take(src)
    } else {
        src.split_to(n)
    }
}

/// What `decode_eof` gives after a last `decode` found `frame`: the frame, nothing if
/// no byte is left, or the framer's truncation `error` with the bytes buffered.
#[inline]
pub(crate) fn at_eof<E>(
    frame: Option<Bytes>,
    src: &BytesMut,
    error: impl FnOnce(usize) -> E,
) -> Result<Option<Bytes>, E> {
    match frame {
        Some(frame) => Ok(Some(frame)),
        None if src.is_empty() => Ok(None),
        None => Err(error(src.len())),
    }
}

/// Length of the longest tail of `bytes` that is a proper prefix of `needle`: the part
/// of `bytes` that may still turn out to be the start of `needle` when more arrives.
pub(crate) fn partial_match(bytes: &[u8], needle: &[u8]) -> usize {
    (1..needle.len().min(bytes.len() + 1))
        .rev()
        .find(|&len| bytes.ends_with(&needle[..len]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{contains_byte, find_byte, partial_match, take_front};

    #[test]
    fn find_byte_agrees_with_a_plain_search() {
        for len in 0..100 {
            for first in 0..=len {
                let mut hay = vec![b'x'; len];
                for at in (first..len).step_by(7) {
                    hay[at] = b'\n';
                }
                let expected = hay.iter().position(|&b| b == b'\n');
                assert_eq!(find_byte(&hay, b'\n'), expected, "len {len} first {first}");
                hay.iter_mut()
                    .for_each(|b| *b = if *b == b'\n' { 0x8a } else { 0x0b });
                assert_eq!(find_byte(&hay, b'\n'), None);
            }
        }
    }

    #[test]
    fn contains_byte_agrees_with_a_plain_search() {
        for len in 0..80 {
            for at in 0..=len {
                let mut hay = vec![b'x'; len];
                if at < len {
                    hay[at] = b'\n';
                }
                assert_eq!(contains_byte(&hay, b'\n'), at < len, "len {len} at {at}");
                // Bytes that differ from the needle only in the high bit do not match.
                let near: Vec<u8> = hay
                    .iter()
                    .map(|&b| if b == b'\n' { 0x8a } else { b })
                    .collect();
                assert!(!contains_byte(&near, b'\n'));
            }
        }
    }
    use bytes::BytesMut;

    #[test]
    fn a_frame_that_fills_its_buffer_takes_the_buffer() {
        let mut exact = BytesMut::with_capacity(4);
        exact.extend_from_slice(b"abcd");
        let frame = take_front(&mut exact, 4);
        assert_eq!(&frame[..], b"abcd");
        assert_eq!(exact.capacity(), 0, "nothing left behind");

        let mut roomy = BytesMut::with_capacity(64);
        roomy.extend_from_slice(b"abcd");
        let frame = take_front(&mut roomy, 4);
        assert_eq!(&frame[..], b"abcd");
        assert!(
            roomy.capacity() >= 60,
            "the rest of the buffer stays for reading"
        );
    }

    #[test]
    fn finds_the_longest_proper_prefix_at_the_tail() {
        assert_eq!(partial_match(b"abc\r\n\r", b"\r\n\r\n"), 3);
        assert_eq!(partial_match(b"abc\r", b"\r\n\r\n"), 1);
        assert_eq!(partial_match(b"abc", b"\r\n\r\n"), 0);
        assert_eq!(
            partial_match(b"\r\n\r\n", b"\r\n\r\n"),
            2,
            "a whole match is not partial"
        );
        assert_eq!(partial_match(b"", b"ab"), 0);
        assert_eq!(partial_match(b"a", b"a"), 0);
    }
}
