use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{DelimiterError, DelimiterFramer};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

#[test]
fn nul_delimited_frames() {
    let frames = decode_bytewise(&mut DelimiterFramer::new(*b"\0"), b"a\0\0bc\0").unwrap();
    assert_eq!(to_vecs(frames), [&b"a"[..], b"", b"bc"]);
}

#[test]
fn multi_byte_delimiter_split_across_reads() {
    let mut framer = DelimiterFramer::new(*b"\r\n\r\n");
    let mut buf = BytesMut::from("head: 1\r\n\r");
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\nbody");
    assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "head: 1");
    assert_eq!(&buf[..], b"body");
}

#[test]
fn frames_that_cannot_round_trip_are_refused() {
    let mut out = BytesMut::new();
    let mut nul = DelimiterFramer::new(*b"\0");
    assert!(matches!(
        nul.encode("a\0b", &mut out),
        Err(DelimiterError::DelimiterInFrame)
    ));
    let mut aa = DelimiterFramer::new(*b"aa");
    assert!(matches!(
        aa.encode("xa", &mut out),
        Err(DelimiterError::DelimiterInFrame)
    ));
    let mut crlf2 = DelimiterFramer::new(*b"\r\n\r\n");
    assert!(matches!(
        crlf2.encode("x\r\n", &mut out),
        Err(DelimiterError::DelimiterInFrame)
    ));
    // A partial delimiter that cannot combine with the appended one is fine.
    crlf2.encode("x\r", &mut out).unwrap();
    assert_eq!(
        to_vecs(decode_all(&mut crlf2, &out).unwrap()),
        [b"x\r".to_vec()]
    );
}

#[test]
fn limit_is_detected_as_soon_as_crossed() {
    let mut framer = DelimiterFramer::new(*b"\r\n\r\n").max_frame_length(4);
    let mut buf = BytesMut::from("abcd\r\n\r");
    assert_eq!(
        framer.decode(&mut buf).unwrap(),
        None,
        "may still be a 4-byte frame"
    );
    let mut buf = BytesMut::from("abcde");
    assert!(matches!(
        framer.decode(&mut buf),
        Err(DelimiterError::TooLong { limit: 4 })
    ));
    let mut framer = DelimiterFramer::new(*b"\0").max_frame_length(4);
    assert_eq!(
        to_vecs(decode_all(&mut framer, b"abcd\0").unwrap()),
        [b"abcd".to_vec()]
    );
    assert!(matches!(
        decode_all(&mut framer, b"abcde\0"),
        Err(DelimiterError::TooLong { .. })
    ));
}

#[test]
fn stream_ending_inside_a_frame_is_truncated() {
    let result = decode_all(&mut DelimiterFramer::new(*b"\0"), b"a\0b");
    assert!(matches!(
        result,
        Err(DelimiterError::Truncated { buffered: 1 })
    ));
}

#[test]
#[should_panic(expected = "must not be empty")]
fn empty_delimiter_panics() {
    let _ = DelimiterFramer::new(b"");
}

proptest! {
    /// The encoder accepts exactly the frames that decode back to themselves.
    #[test]
    fn encode_accepts_exactly_what_round_trips(
        delimiter in biased_bytes(b"ab", 3).prop_filter("non-empty", |d| !d.is_empty()),
        frame in biased_bytes(b"ab", 8),
    ) {
        let mut framer = DelimiterFramer::new(&delimiter);
        let naive = [frame.clone(), delimiter.clone()].concat();
        let naive_ok = decode_all(&mut DelimiterFramer::new(&delimiter), &naive)
            .map(to_vecs)
            .is_ok_and(|frames| frames == [frame.clone()]);
        let encoded = framer.encode(&frame[..], &mut BytesMut::new());
        prop_assert_eq!(encoded.is_ok(), naive_ok);
    }

    #[test]
    fn round_trips(frames in prop::collection::vec(biased_bytes(b"\r\nx", 20), 0..6), cuts in points(200)) {
        let make = || DelimiterFramer::new(*b"\r\n\r\n");
        let frames: Vec<Vec<u8>> = frames
            .into_iter()
            .filter(|f| make().encode(&f[..], &mut BytesMut::new()).is_ok())
            .collect();
        assert_round_trip(make, &frames, &cuts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in biased_bytes(b"\r\n", 300), cuts in points(300)) {
        assert_no_panic(|| DelimiterFramer::new(*b"\r\n\r\n").max_frame_length(20), &input, &cuts);
        assert_split_independent(|| DelimiterFramer::new(*b"\r\n\r\n").max_frame_length(20), &input, &cuts);
    }
}
