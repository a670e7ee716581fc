use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{NetstringError, NetstringFramer};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

#[test]
fn wire_format() {
    let mut out = BytesMut::new();
    let mut framer = NetstringFramer::new();
    for frame in ["hello", "", "a,b:c"] {
        framer.encode(frame, &mut out).unwrap();
    }
    assert_eq!(&out[..], b"5:hello,0:,5:a,b:c,");
    let frames = decode_bytewise(&mut framer, &out).unwrap();
    assert_eq!(to_vecs(frames), [&b"hello"[..], b"", b"a,b:c"]);
}

#[test]
fn malformed_headers_and_trailers_are_errors() {
    for bad in [
        &b"05:hello,"[..],
        b":x,",
        b"x:",
        b"5x",
        b"-1:",
        b"3:abc;",
        b"00:,",
    ] {
        let result = decode_all(&mut NetstringFramer::new(), bad);
        assert!(
            matches!(result, Err(NetstringError::BadFormat)),
            "{bad:?}: {result:?}"
        );
    }
}

#[test]
fn over_limit_length_fails_on_its_digits() {
    let mut framer = NetstringFramer::new().max_frame_length(99);
    let mut buf = BytesMut::from("99");
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    let mut buf = BytesMut::from("100");
    assert!(matches!(
        framer.decode(&mut buf),
        Err(NetstringError::TooLong { limit: 99 })
    ));
    // Overflowing digits are a limit error, not a wrap-around.
    let mut buf = BytesMut::from("99999999999999999999999999:");
    assert!(matches!(
        NetstringFramer::new().decode(&mut buf),
        Err(NetstringError::TooLong { .. })
    ));
}

#[test]
fn frame_of_exactly_the_limit_passes() {
    let frame = vec![b'x'; 99];
    assert_round_trip(
        || NetstringFramer::new().max_frame_length(99),
        &[frame],
        &[1, 2, 3, 50],
    );
    assert!(NetstringFramer::new()
        .max_frame_length(99)
        .encode(&[0u8; 100][..], &mut BytesMut::new())
        .is_err());
}

#[test]
fn stream_ending_inside_a_frame_is_truncated() {
    assert!(matches!(
        decode_all(&mut NetstringFramer::new(), b"5:hel"),
        Err(NetstringError::Truncated { buffered: 5 })
    ));
}

proptest! {
    #[test]
    fn round_trips(frames in prop::collection::vec(biased_bytes(b"0:,9", 120), 0..6), cuts in points(800)) {
        assert_round_trip(NetstringFramer::new, &frames, &cuts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in biased_bytes(b"0123456789:,", 300), cuts in points(300)) {
        assert_no_panic(|| NetstringFramer::new().max_frame_length(50), &input, &cuts);
        assert_split_independent(|| NetstringFramer::new().max_frame_length(50), &input, &cuts);
    }
}
