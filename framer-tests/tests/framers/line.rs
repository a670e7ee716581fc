use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{LineError, LineFramer, DEFAULT_MAX_LINE_LENGTH};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

#[test]
fn crlf_mode_strips_crlf_and_lone_lf() {
    let frames = decode_all(&mut LineFramer::new(), b"a\r\nb\nc\r\r\n\r\n\n").unwrap();
    assert_eq!(to_vecs(frames), [&b"a"[..], b"b", b"c\r", b"", b""]);
}

#[test]
fn lf_mode_keeps_carriage_returns() {
    let frames = decode_all(&mut LineFramer::lf(), b"a\r\nb\n\n").unwrap();
    assert_eq!(to_vecs(frames), [&b"a\r"[..], b"b", b""]);
}

#[test]
fn encodes_with_the_mode_line_ending() {
    let mut out = BytesMut::new();
    LineFramer::new().encode("x", &mut out).unwrap();
    LineFramer::lf().encode("y", &mut out).unwrap();
    LineFramer::new().encode("", &mut out).unwrap();
    assert_eq!(&out[..], b"x\r\ny\n\r\n");
}

#[test]
fn default_limit_is_64_kib_and_crlf() {
    assert_eq!(LineFramer::new().get_max_frame_length(), 64 * 1024);
    assert!(LineFramer::new().is_crlf());
    assert!(!LineFramer::lf().is_crlf());
    assert_eq!(DEFAULT_MAX_LINE_LENGTH, 64 * 1024);
}

#[test]
fn line_of_exactly_the_limit_passes() {
    let mut framer = LineFramer::new().max_frame_length(8);
    let frames = decode_bytewise(&mut framer, b"12345678\r\n").unwrap();
    assert_eq!(to_vecs(frames), [b"12345678".to_vec()]);
    let mut framer = LineFramer::lf().max_frame_length(8);
    assert!(decode_all(&mut framer, b"1234567\r\n").is_ok());
}

#[test]
fn limit_plus_one_is_an_error_as_soon_as_it_is_crossed() {
    let mut framer = LineFramer::new().max_frame_length(8);
    let mut buf = BytesMut::from("12345678");
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\r"); // may still be the line ending
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"x"); // it was not: the line is now 10 bytes
    assert!(matches!(
        framer.decode(&mut buf),
        Err(LineError::TooLong { limit: 8 })
    ));

    let mut framer = LineFramer::new().max_frame_length(8);
    let mut buf = BytesMut::from("123456789");
    assert!(matches!(
        framer.decode(&mut buf),
        Err(LineError::TooLong { limit: 8 })
    ));

    // In LF mode the CR counts.
    let mut framer = LineFramer::lf().max_frame_length(8);
    let mut buf = BytesMut::from("12345678\r");
    assert!(framer.decode(&mut buf).is_err());
}

#[test]
fn complete_over_long_line_is_an_error() {
    let mut framer = LineFramer::new().max_frame_length(3);
    assert!(matches!(
        decode_all(&mut framer, b"ok\r\ntoolong\r\n"),
        Err(LineError::TooLong { limit: 3 })
    ));
}

#[test]
fn unterminated_last_line_is_truncated() {
    let err = decode_all(&mut LineFramer::new(), b"a\r\nb").unwrap_err();
    assert!(
        matches!(err, LineError::Truncated { buffered: 1 }),
        "{err:?}"
    );
}

#[test]
fn encoder_refuses_newlines_and_long_frames() {
    let mut out = BytesMut::new();
    let mut framer = LineFramer::new().max_frame_length(4);
    assert!(matches!(
        framer.encode("a\nb", &mut out),
        Err(LineError::NewlineInFrame)
    ));
    assert!(matches!(
        framer.encode("abcde", &mut out),
        Err(LineError::TooLong { .. })
    ));
    // A trailing CR survives the round trip.
    framer.encode("ab\r", &mut out).unwrap();
    assert_eq!(
        to_vecs(decode_all(&mut framer, &out).unwrap()),
        [b"ab\r".to_vec()]
    );
}

fn line_frames() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        biased_bytes(b"\r ab", 40).prop_map(|mut line| {
            line.retain(|&b| b != b'\n');
            line
        }),
        0..8,
    )
}

proptest! {
    #[test]
    fn round_trips_crlf(frames in line_frames(), cuts in points(400)) {
        assert_round_trip(LineFramer::new, &frames, &cuts);
    }

    #[test]
    fn round_trips_lf(frames in line_frames(), cuts in points(400)) {
        assert_round_trip(LineFramer::lf, &frames, &cuts);
    }

    #[test]
    fn any_input_is_split_independent(input in biased_bytes(b"\r\nab", 200), cuts in points(200)) {
        assert_split_independent(|| LineFramer::new().max_frame_length(16), &input, &cuts);
        assert_split_independent(|| LineFramer::lf().max_frame_length(16), &input, &cuts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..500), cuts in points(500)) {
        assert_no_panic(|| LineFramer::new().max_frame_length(32), &input, &cuts);
    }
}

#[test]
fn an_over_long_line_is_skipped_through_its_end_when_discarding() {
    let make = || LineFramer::new().max_frame_length(8).discard_too_long(true);
    let input = b"ok\r\n0123456789abcdef\r\nafter\r\n123456789\r\nlast\r\n";
    let expected: Vec<Result<bytes::Bytes, String>> = vec![
        Ok("ok".into()),
        Err("line longer than 8 bytes".into()),
        Ok("after".into()),
        Err("line longer than 8 bytes".into()),
        Ok("last".into()),
    ];
    for cut in 0..input.len() {
        assert_eq!(
            decode_recovering(&mut make(), input, &[cut]),
            expected,
            "cut at {cut}"
        );
    }
    let bytewise = decode_recovering(&mut make(), input, &(0..input.len()).collect::<Vec<_>>());
    assert_eq!(bytewise, expected);
}

proptest! {
    #[test]
    fn discarding_is_split_independent(input in biased_bytes(b"\r\nab", 200), cuts in points(200)) {
        let make = || LineFramer::new().max_frame_length(10).discard_too_long(true);
        let whole = decode_recovering(&mut make(), &input, &[]);
        prop_assert_eq!(decode_recovering(&mut make(), &input, &cuts), whole);
    }
}
