use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{CobsError, CobsFramer};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

fn encode(frame: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    CobsFramer::new().encode(frame, &mut out).unwrap();
    out.to_vec()
}

fn decode(wire: &[u8]) -> Result<Vec<Vec<u8>>, CobsError> {
    decode_all(&mut CobsFramer::new(), wire).map(to_vecs)
}

fn run(from: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (from as usize + i) as u8).collect()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The examples of the COBS article: both directions, byte for byte.
#[test]
fn reference_vectors() {
    let ones_to_fe = run(1, 254);
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (vec![], vec![0x01, 0x00]),
        (vec![0x00], vec![0x01, 0x01, 0x00]),
        (vec![0x00, 0x00], vec![0x01, 0x01, 0x01, 0x00]),
        (vec![0x00, 0x11, 0x00], vec![0x01, 0x02, 0x11, 0x01, 0x00]),
        (
            vec![0x11, 0x22, 0x00, 0x33],
            vec![0x03, 0x11, 0x22, 0x02, 0x33, 0x00],
        ),
        (
            vec![0x11, 0x22, 0x33, 0x44],
            vec![0x05, 0x11, 0x22, 0x33, 0x44, 0x00],
        ),
        (
            vec![0x11, 0x00, 0x00, 0x00],
            vec![0x02, 0x11, 0x01, 0x01, 0x01, 0x00],
        ),
        (ones_to_fe.clone(), cat(&[&[0xff], &ones_to_fe, &[0x00]])),
        (
            cat(&[&[0x00], &ones_to_fe]),
            cat(&[&[0x01, 0xff], &ones_to_fe, &[0x00]]),
        ),
        (
            run(1, 255),
            cat(&[&[0xff], &ones_to_fe, &[0x02, 0xff, 0x00]]),
        ),
        (
            cat(&[&run(2, 254), &[0x00]]),
            cat(&[&[0xff], &run(2, 254), &[0x01, 0x01, 0x00]]),
        ),
        (
            cat(&[&run(3, 253), &[0x00, 0x01]]),
            cat(&[&[0xfe], &run(3, 253), &[0x02, 0x01, 0x00]]),
        ),
    ];
    for (frame, wire) in cases {
        assert_eq!(encode(&frame), wire, "encoding {frame:02x?}");
        assert_eq!(decode(&wire).unwrap(), [frame], "decoding {wire:02x?}");
    }
}

#[test]
fn runs_around_the_block_size() {
    for len in [253, 254, 255, 508, 509] {
        let frame = vec![0x42u8; len];
        let wire = encode(&frame);
        assert_eq!(
            decode(&wire).unwrap(),
            std::slice::from_ref(&frame),
            "run of {len}"
        );
        let mut with_zero = frame.clone();
        with_zero.push(0);
        assert_eq!(
            decode(&encode(&with_zero)).unwrap(),
            [with_zero],
            "run of {len} then zero"
        );
    }
    // A final full block gets no extra 01 block.
    assert_eq!(encode(&[0x42; 254]).len(), 256);
    assert_eq!(encode(&[0x42; 508]).len(), 511);
}

#[test]
fn frame_of_only_zeros() {
    for len in 0..6 {
        let frame = vec![0u8; len];
        let wire = encode(&frame);
        assert_eq!(wire, [vec![0x01; len + 1], vec![0x00]].concat());
        assert_eq!(decode(&wire).unwrap(), [frame]);
    }
}

#[test]
fn non_canonical_trailing_01_block_is_accepted() {
    let ones_to_fe = run(1, 254);
    let wire = cat(&[&[0xff], &ones_to_fe, &[0x01, 0x00]]);
    assert_eq!(decode(&wire).unwrap(), [ones_to_fe]);
}

#[test]
fn malformed_frame_is_an_error_and_the_next_frame_decodes() {
    let mut framer = CobsFramer::new();
    // Code 05 promises four data bytes; the terminator comes after two.
    let mut buf = BytesMut::from(&[0x05, 0x11, 0x22, 0x00, 0x02, 0x33, 0x00][..]);
    assert!(matches!(framer.decode(&mut buf), Err(CobsError::Malformed)));
    assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), &[0x33][..]);
}

#[test]
fn lone_zero_bytes_are_idle_delimiters() {
    assert_eq!(
        decode(&[0x00, 0x00, 0x02, 0x33, 0x00, 0x00]).unwrap(),
        [vec![0x33]]
    );
}

#[test]
fn stream_ending_inside_a_frame_is_truncated() {
    assert!(matches!(
        decode(&[0x03, 0x11]),
        Err(CobsError::Truncated { buffered: 2 })
    ));
}

#[test]
fn limit_counts_decoded_bytes_as_soon_as_crossed() {
    let make = || CobsFramer::new().max_frame_length(300);
    let exact: Vec<u8> = (0..300).map(|i| (i % 7) as u8).collect();
    assert_round_trip(make, &[exact], &[]);
    // 301 decoded bytes received, no terminator yet: already an error.
    let mut framer = make();
    let mut buf = BytesMut::from(&encode(&[0x42; 301])[..303]);
    assert!(matches!(
        framer.decode(&mut buf),
        Err(CobsError::TooLong { limit: 300 })
    ));
    let mut framer = make();
    let mut buf = BytesMut::from(&encode(&[0x42; 300])[..302]);
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    assert!(matches!(
        make().encode(&[1u8; 301][..], &mut BytesMut::new()),
        Err(CobsError::TooLong { .. })
    ));
}

#[test]
fn agrees_with_the_cobs_crate() {
    let frames: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        run(1, 254),
        run(1, 600),
        vec![1, 0, 0, 2, 0],
    ];
    for frame in frames {
        let ours = encode(&frame);
        let theirs = cobs::encode_vec(&frame);
        assert_eq!(&ours[..ours.len() - 1], &theirs[..], "{frame:02x?}");
    }
}

proptest! {
    #[test]
    fn round_trips(
        frames in prop::collection::vec(biased_bytes(&[0, 0, 1, 0xff], 700), 0..4),
        cuts in points(3000),
    ) {
        assert_round_trip(CobsFramer::new, &frames, &cuts);
    }

    #[test]
    fn decode_then_encode_reproduces_a_canonical_stream(frame in biased_bytes(&[0, 1, 0xff], 900)) {
        let wire = encode(&frame);
        let decoded = decode(&wire).unwrap();
        prop_assert_eq!(encode(&decoded[0]), wire);
    }

    #[test]
    fn matches_the_cobs_crate_encoding(frame in biased_bytes(&[0, 1], 600)) {
        let ours = encode(&frame);
        prop_assert_eq!(&ours[..ours.len() - 1], &cobs::encode_vec(&frame)[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in biased_bytes(&[0, 1, 2, 0xff], 600), cuts in points(600)) {
        assert_no_panic(|| CobsFramer::new().max_frame_length(100), &input, &cuts);
        assert_split_independent(|| CobsFramer::new().max_frame_length(100), &input, &cuts);
    }
}
