use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{ContentLengthError, ContentLengthFramer};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

#[test]
fn wire_format() {
    let mut out = BytesMut::new();
    let mut framer = ContentLengthFramer::new();
    for frame in [&b"{}"[..], b"", b"a\r\n\r\nb"] {
        framer.encode(frame, &mut out).unwrap();
    }
    assert_eq!(
        &out[..],
        b"Content-Length: 2\r\n\r\n{}Content-Length: 0\r\n\r\nContent-Length: 6\r\n\r\na\r\n\r\nb"
    );
    let frames = decode_bytewise(&mut framer, &out).unwrap();
    assert_eq!(to_vecs(frames), [&b"{}"[..], b"", b"a\r\n\r\nb"]);
}

#[test]
fn other_headers_any_case_and_spacing_are_read_past() {
    let input = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-LENGTH:3\r\n\r\nabcCONTENT-LENGTH:   1  \r\n\r\nz";
    let frames = decode_all(&mut ContentLengthFramer::new(), input).unwrap();
    assert_eq!(to_vecs(frames), [&b"abc"[..], b"z"]);
}

#[test]
fn malformed_headers_are_errors() {
    for bad in [
        &b"\r\n\r\n"[..],
        b"Content-Type: x\r\n\r\n",
        b"Content-Length 3\r\n\r\nabc",
        b"Content-Length: \r\n\r\n",
        b"Content-Length: -3\r\n\r\nabc",
        b"Content-Length: 3x\r\n\r\nabc",
        b"Content-Length: 1\r\nContent-Length: 1\r\n\r\na",
    ] {
        let result = decode_all(&mut ContentLengthFramer::new(), bad);
        assert!(
            matches!(result, Err(ContentLengthError::BadHeader)),
            "{bad:?}: {result:?}"
        );
    }
}

#[test]
fn a_header_without_end_fails_at_its_limit() {
    let mut framer = ContentLengthFramer::new().max_header_length(64);
    let mut buf = BytesMut::from(&[b'x'; 63][..]);
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"x");
    assert!(matches!(
        framer.decode(&mut buf),
        Err(ContentLengthError::HeaderTooLong { limit: 64 })
    ));
    // A blank line just inside the limit is found, across two reads.
    let mut framer = ContentLengthFramer::new().max_header_length(23);
    let mut buf = BytesMut::from("Content-Length: 1\r\n\r");
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\nq");
    assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "q");
}

#[test]
fn over_limit_length_fails_before_the_body() {
    let mut framer = ContentLengthFramer::new().max_frame_length(99);
    let mut buf = BytesMut::from("Content-Length: 100\r\n\r\n");
    assert!(matches!(
        framer.decode(&mut buf),
        Err(ContentLengthError::TooLong { limit: 99 })
    ));
    let mut buf = BytesMut::from("Content-Length: 99999999999999999999999999\r\n\r\n");
    assert!(matches!(
        ContentLengthFramer::new().decode(&mut buf),
        Err(ContentLengthError::TooLong { .. })
    ));
}

#[test]
fn frame_of_exactly_the_limit_passes() {
    assert_round_trip(
        || ContentLengthFramer::new().max_frame_length(99),
        &[vec![b'x'; 99]],
        &[1, 2, 3, 50],
    );
    assert!(ContentLengthFramer::new()
        .max_frame_length(99)
        .encode(&[0u8; 100][..], &mut BytesMut::new())
        .is_err());
}

#[test]
fn stream_ending_inside_a_frame_is_truncated() {
    for cut in [&b"Content-Length: 5\r\n\r\nhel"[..], b"Content-Len"] {
        assert!(matches!(
            decode_all(&mut ContentLengthFramer::new(), cut),
            Err(ContentLengthError::Truncated { buffered }) if buffered == cut.len()
        ));
    }
}

proptest! {
    #[test]
    fn round_trips(frames in prop::collection::vec(biased_bytes(b"\r\n:C", 120), 0..6), cuts in points(900)) {
        assert_round_trip(ContentLengthFramer::new, &frames, &cuts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in biased_bytes(b"Content-Length: 12\r\n", 300), cuts in points(300)) {
        let make = || ContentLengthFramer::new().max_frame_length(50).max_header_length(64);
        assert_no_panic(make, &input, &cuts);
        assert_split_independent(make, &input, &cuts);
    }
}
