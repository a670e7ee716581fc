use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{InvalidMarkers, StuffingError, StuffingFramer};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

fn custom() -> StuffingFramer {
    StuffingFramer::builder()
        .prefix(*b"zzz")
        .begin(b'z')
        .end(b'w')
        .nop(b'a')
        .build()
        .unwrap()
}

fn encode(framer: &mut StuffingFramer, frame: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    framer.encode(frame, &mut out).unwrap();
    out.to_vec()
}

#[test]
fn default_wire_format() {
    let wire = encode(&mut StuffingFramer::new(), b"abc");
    assert_eq!(wire, b"\xff\xff\xff\xff\xffabc\xff\xff\xff\xff\xfe");
    let empty = encode(&mut StuffingFramer::new(), b"");
    assert_eq!(empty, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe");
    assert_eq!(
        to_vecs(decode_all(&mut StuffingFramer::new(), &empty).unwrap()),
        [Vec::<u8>::new()]
    );
}

#[test]
fn every_embedded_prefix_is_escaped() {
    let mut framer = StuffingFramer::new();
    // P followed by the end byte inside the frame.
    let wire = encode(&mut framer, b"\xff\xff\xff\xff\xfe");
    assert_eq!(
        wire,
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xfe"
    );
    // P followed by an ordinary byte is escaped too, as the original Tendril does.
    let wire = encode(&mut framer, b"\xff\xff\xff\xffx");
    assert_eq!(
        wire,
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00x\xff\xff\xff\xff\xfe"
    );
    // The unescaped form a lenient peer might send still decodes.
    let lenient = b"\xff\xff\xff\xff\xff\xff\xff\xff\xffx\xff\xff\xff\xff\xfe";
    assert_eq!(
        to_vecs(decode_all(&mut framer, lenient).unwrap()),
        [b"\xff\xff\xff\xffx".to_vec()]
    );
}

/// The original Tendril's encoder: P B, then `frame.split(P)` joined with P N, then P E
/// (Python's `bytes.split`: occurrences left to right, without overlap).
fn original_encoding(frame: &[u8]) -> Vec<u8> {
    let prefix = [0xffu8; 4];
    let mut parts: Vec<&[u8]> = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at + prefix.len() <= frame.len() {
        if frame[at..at + prefix.len()] == prefix {
            parts.push(&frame[start..at]);
            at += prefix.len();
            start = at;
        } else {
            at += 1;
        }
    }
    parts.push(&frame[start..]);
    let mut out = [&prefix[..], &[0xff]].concat();
    out.extend(parts.join(&[0xff, 0xff, 0xff, 0xff, 0x00][..]));
    out.extend([0xff, 0xff, 0xff, 0xff, 0xfe]);
    out
}

#[test]
fn encodes_byte_for_byte_as_the_original_tendril() {
    let frames: [&[u8]; 8] = [
        b"",
        b"plain",
        b"\xff\xff\xff\xff",
        b"\xff\xff\xff\xff\xff",
        &[0xff; 8],
        &[0xff; 9],
        b"a\xff\xff\xff\xffb\xff\xff\xff\xff\x00c\xff\xff\xff",
        b"\xff\xff\xff\xff\xfe\xff\xff\xff\xff\xff\xfe",
    ];
    let mut framer = StuffingFramer::new();
    for frame in frames {
        let wire = encode(&mut framer, frame);
        assert_eq!(wire, original_encoding(frame), "frame {frame:02x?}");
        assert_eq!(
            to_vecs(decode_all(&mut framer, &wire).unwrap()),
            [frame.to_vec()]
        );
    }
}

#[test]
fn frames_containing_or_ending_with_partial_markers_round_trip() {
    let tricky: Vec<Vec<u8>> = vec![
        vec![0xff],
        vec![0xff, 0xff, 0xff],
        vec![0xff; 4],
        vec![0xff; 5],
        vec![0xff; 9],
        vec![0xff, 0xff, 0xff, 0xff, 0x00],
        vec![0xff, 0xff, 0xff, 0xff, 0xfe],
        vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
        vec![0x00, 0xff, 0xfe, 0xff],
        vec![0xfe],
        vec![],
    ];
    assert_round_trip(StuffingFramer::new, &tricky, &[3, 17, 40]);
    let tricky: Vec<Vec<u8>> = [
        "z", "zz", "zzz", "zzzz", "zzza", "zzzw", "zzzzw", "aw", "wz", "zzzazzzw", "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    assert_round_trip(custom, &tricky, &[1, 9, 30]);
}

#[test]
fn garbage_before_a_begin_marker_is_skipped() {
    let mut framer = StuffingFramer::new();
    let mut wire = b"noise\xff\xff\x00junk".to_vec();
    let skipped = wire.len() as u64;
    wire.extend(encode(&mut StuffingFramer::new(), b"frame"));
    let frames = decode_all(&mut framer, &wire).unwrap();
    assert_eq!(to_vecs(frames), [b"frame".to_vec()]);
    assert_eq!(framer.skipped(), skipped);
}

#[test]
fn garbage_after_the_last_frame_is_not_an_error() {
    let mut wire = encode(&mut StuffingFramer::new(), b"x");
    wire.extend_from_slice(b"trailing\xff\xff");
    let frames = decode_all(&mut StuffingFramer::new(), &wire).unwrap();
    assert_eq!(to_vecs(frames), [b"x".to_vec()]);
}

#[test]
fn stream_ending_inside_a_frame_is_truncated() {
    let mut wire = encode(&mut StuffingFramer::new(), b"abc");
    wire.truncate(wire.len() - 1);
    assert!(matches!(
        decode_all(&mut StuffingFramer::new(), &wire),
        Err(StuffingError::Truncated { .. })
    ));
}

#[test]
fn limit_applies_to_unescaped_data_as_soon_as_crossed() {
    let make = || StuffingFramer::new().max_frame_length(8);
    let exact = vec![0xffu8; 8];
    assert_round_trip(make, &[exact], &[]);
    // Begin marker and 9 data bytes, no end marker yet: already an error.
    let mut framer = make();
    let mut buf = BytesMut::from(&b"\xff\xff\xff\xff\xff123456789"[..]);
    assert!(matches!(
        framer.decode(&mut buf),
        Err(StuffingError::TooLong { limit: 8 })
    ));
    assert!(matches!(
        make().encode(&[1u8; 9][..], &mut BytesMut::new()),
        Err(StuffingError::TooLong { limit: 8 })
    ));
}

#[test]
fn invalid_marker_sets_are_rejected() {
    let build = |prefix: &[u8], begin, end, nop| {
        StuffingFramer::builder()
            .prefix(prefix)
            .begin(begin)
            .end(end)
            .nop(nop)
            .build()
            .err()
    };
    assert_eq!(build(b"", 1, 2, 3), Some(InvalidMarkers::EmptyPrefix));
    assert_eq!(
        build(b"zz", b'x', b'x', b'a'),
        Some(InvalidMarkers::BeginIsEnd)
    );
    assert_eq!(
        build(b"zz", b'x', b'y', b'x'),
        Some(InvalidMarkers::NopIsMarker)
    );
    assert_eq!(
        build(b"zz", b'x', b'y', b'y'),
        Some(InvalidMarkers::NopIsMarker)
    );
    // Frame "" + "ab" + "a": "ab" then "a" reads as the end marker one byte early
    // for the frame "a"; prefix "ab" with end 'a' is ambiguous.
    assert_eq!(
        build(b"ab", b'x', b'a', b'n'),
        Some(InvalidMarkers::Ambiguous { overlap: 0 })
    );
    // "aba": its border "a" is followed by 'b', the nop byte.
    assert_eq!(
        build(b"aba", b'x', b'y', b'b'),
        Some(InvalidMarkers::Ambiguous { overlap: 1 })
    );
    assert!(build(b"zzz", b'z', b'w', b'a').is_none());
    let err = build(b"ab", b'x', b'a', b'n').unwrap();
    assert!(err.to_string().contains("ambiguous"), "{err}");
}

fn config() -> impl Strategy<Value = (Vec<u8>, u8, u8, u8)> {
    (
        prop::collection::vec(prop::sample::select(&b"abc"[..]), 1..4),
        prop::sample::select(&b"abcd"[..]),
        prop::sample::select(&b"abcd"[..]),
        prop::sample::select(&b"abcd"[..]),
    )
}

proptest! {
    #[test]
    fn round_trips_with_default_markers(
        frames in prop::collection::vec(biased_bytes(&[0xff, 0xfe, 0x00], 24), 0..6),
        cuts in points(300),
    ) {
        assert_round_trip(StuffingFramer::new, &frames, &cuts);
    }

    #[test]
    fn round_trips_with_custom_markers(
        frames in prop::collection::vec(biased_bytes(b"zwa", 24), 0..6),
        cuts in points(300),
    ) {
        assert_round_trip(custom, &frames, &cuts);
    }

    #[test]
    fn every_accepted_marker_set_round_trips(
        (prefix, begin, end, nop) in config(),
        frames in prop::collection::vec(biased_bytes(b"abcd", 12), 1..5),
        cuts in points(120),
    ) {
        let build = || StuffingFramer::builder().prefix(prefix.clone()).begin(begin).end(end).nop(nop).build();
        if build().is_ok() {
            assert_round_trip(|| build().unwrap(), &frames, &cuts);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in biased_bytes(&[0xff, 0xfe, 0x00], 400), cuts in points(400)) {
        assert_no_panic(|| StuffingFramer::new().max_frame_length(32), &input, &cuts);
        assert_split_independent(|| StuffingFramer::new().max_frame_length(32), &input, &cuts);
    }
}
