//! Helpers shared by the framers: scanning for a byte sequence, and taking a frame off
//! the front of the read buffer.

use bytes::BytesMut;

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
    use super::{partial_match, take_front};
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
        assert!(roomy.capacity() >= 60, "the rest of the buffer stays for reading");
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
