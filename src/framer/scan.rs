//! Scanning helpers shared by the framers that search for a byte sequence.

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
    use super::partial_match;

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
