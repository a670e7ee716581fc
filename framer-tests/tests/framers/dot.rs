use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tendril_net::framer::{DotError, DotFramer};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

fn decode(wire: &[u8]) -> Result<Vec<Vec<u8>>, DotError> {
    decode_bytewise(&mut DotFramer::new(), wire).map(to_vecs)
}

#[test]
fn body_ends_at_the_dot_line_and_keeps_its_crlfs() {
    assert_eq!(
        decode(b"a\r\nb\r\n.\r\n").unwrap(),
        [b"a\r\nb\r\n".to_vec()]
    );
    assert_eq!(decode(b".\r\n").unwrap(), [Vec::<u8>::new()]);
    assert_eq!(decode(b"\r\n.\r\n").unwrap(), [b"\r\n".to_vec()]);
}

#[test]
fn leading_dots_are_unstuffed() {
    let body = decode(b"..a\r\n...\r\n.b\r\nc.\r\n.\r\n").unwrap();
    assert_eq!(body, [b".a\r\n..\r\nb\r\nc.\r\n".to_vec()]);
}

#[test]
fn only_crlf_dot_crlf_ends_a_body() {
    // Bare LF, bare CR and mixed endings are data (SMTP smuggling variants).
    // (".\nd\n." after a CRLF is one line starting with a dot: the dot is removed.)
    let wire = b"a\n.\nb\r.\rc\r\n.\nd\n.\r\ne\r\n.\r\n";
    assert_eq!(
        decode(wire).unwrap(),
        [b"a\n.\nb\r.\rc\r\n\nd\n.\r\ne\r\n".to_vec()]
    );
    // "\r\n.\r" followed by something other than LF is data too.
    assert_eq!(
        decode(b"x\r\n.\rx\r\n.\r\n").unwrap(),
        [b"x\r\n\rx\r\n".to_vec()]
    );
}

#[test]
fn bytes_after_the_body_stay_buffered() {
    let mut framer = DotFramer::new();
    let mut buf = BytesMut::from("x\r\n.\r\nQUIT\r\n");
    assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "x\r\n");
    assert_eq!(&buf[..], b"QUIT\r\n");
}

#[test]
fn encoding_stuffs_dots_and_terminates() {
    let mut out = BytesMut::new();
    let mut framer = DotFramer::new();
    framer.encode(".a\r\nb\r\n.\r\n", &mut out).unwrap();
    assert_eq!(&out[..], b"..a\r\nb\r\n..\r\n.\r\n");
    out.clear();
    framer.encode("no newline", &mut out).unwrap();
    assert_eq!(&out[..], b"no newline\r\n.\r\n");
    out.clear();
    framer.encode("", &mut out).unwrap();
    assert_eq!(&out[..], b".\r\n");
}

#[test]
fn limit_is_detected_as_soon_as_crossed() {
    let make = || DotFramer::new().max_frame_length(8);
    assert_eq!(
        decode_all(&mut make(), b"123456\r\n.\r\n").unwrap(),
        [&b"123456\r\n"[..]]
    );
    let mut framer = make();
    let mut buf = BytesMut::from("123456\r\n.");
    assert_eq!(
        framer.decode(&mut buf).unwrap(),
        None,
        "may be the end line"
    );
    let mut buf = BytesMut::from("1234\r\n..\r");
    assert_eq!(
        make().decode(&mut buf).unwrap(),
        None,
        "the stuffed dot is not counted"
    );
    let mut buf = BytesMut::from("123456\r\nx");
    assert!(matches!(
        make().decode(&mut buf),
        Err(DotError::TooLong { limit: 8 })
    ));
    let mut buf = BytesMut::from("123456789");
    assert!(matches!(
        make().decode(&mut buf),
        Err(DotError::TooLong { limit: 8 })
    ));
}

#[test]
fn stream_ending_before_the_dot_line_is_truncated() {
    assert!(matches!(
        decode(b"a\r\nb\r\n"),
        Err(DotError::Truncated { buffered: 6 })
    ));
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(biased_bytes(b".\r\na", 8), 0..6).prop_map(|lines| {
        let mut body = Vec::new();
        for line in lines {
            body.extend_from_slice(&line);
            body.extend_from_slice(b"\r\n");
        }
        body
    })
}

proptest! {
    #[test]
    fn round_trips(frames in prop::collection::vec(body(), 0..4), cuts in points(200)) {
        assert_round_trip(DotFramer::new, &frames, &cuts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in biased_bytes(b".\r\n", 300), cuts in points(300)) {
        assert_no_panic(|| DotFramer::new().max_frame_length(40), &input, &cuts);
        assert_split_independent(|| DotFramer::new().max_frame_length(40), &input, &cuts);
    }
}

#[test]
fn an_over_long_body_is_skipped_through_its_end_line_when_discarding() {
    let make = || DotFramer::new().max_frame_length(16).discard_too_long(true);
    let mut input = b"small\r\n.\r\n".to_vec();
    // Over the limit, with lines that look like an end but are not: a stuffed dot,
    // bare LF and CR variants.
    input.extend_from_slice(b"0123456789abcdef\r\n..\r\n\n.\n\r.\r\r\n.\nmore\r\n.\r\n");
    input.extend_from_slice(b"next\r\n.\r\nQUIT\r\n");
    let expected: Vec<Result<Bytes, String>> = vec![
        Ok(Bytes::from("small\r\n")),
        Err("body longer than 16 bytes".into()),
        Ok(Bytes::from("next\r\n")),
    ];
    let whole = decode_recovering(&mut make(), &input, &[]);
    assert_eq!(whole, expected);
    for cut in 0..input.len() {
        assert_eq!(
            decode_recovering(&mut make(), &input, &[cut]),
            expected,
            "cut at {cut}"
        );
    }
    let mut framer = make();
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    for byte in &input {
        buf.extend_from_slice(&[*byte]);
        loop {
            match framer.decode(&mut buf) {
                Ok(Some(frame)) => seen.push(Ok(frame)),
                Ok(None) => break,
                Err(err) => seen.push(Err(err.to_string())),
            }
        }
        assert!(buf.len() <= 32, "memory stays bounded while skipping");
    }
    assert_eq!(seen, expected);
    assert_eq!(&buf[..], b"QUIT\r\n");
}

#[test]
fn a_skipped_body_may_end_right_at_the_limit_line() {
    let make = || DotFramer::new().max_frame_length(8).discard_too_long(true);
    let input = b"123456789\r\n.\r\nok\r\n.\r\n";
    for cut in 0..input.len() {
        assert_eq!(
            decode_recovering(&mut make(), input, &[cut]),
            [
                Err("body longer than 8 bytes".into()),
                Ok(Bytes::from("ok\r\n"))
            ],
            "cut at {cut}"
        );
    }
}

proptest! {
    #[test]
    fn discarding_is_split_independent(input in biased_bytes(b".\r\nab", 300), cuts in points(300)) {
        let make = || DotFramer::new().max_frame_length(12).discard_too_long(true);
        let whole = decode_recovering(&mut make(), &input, &[]);
        prop_assert_eq!(decode_recovering(&mut make(), &input, &cuts), whole);
    }
}
