use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{CobsError, CobsZpeFramer};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

fn encode(frame: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    CobsZpeFramer::new().encode(frame, &mut out).unwrap();
    out.to_vec()
}

fn decode(wire: &[u8]) -> Result<Vec<Vec<u8>>, CobsError> {
    decode_all(&mut CobsZpeFramer::new(), wire).map(to_vecs)
}

fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 250) as u8 + 1).collect()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn hand_checked_vectors() {
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (vec![], vec![0x01, 0x00]),
        (vec![0x00], vec![0xe1, 0x00]),
        (vec![0x00, 0x00], vec![0xe1, 0x01, 0x00]),
        (vec![0x00, 0x00, 0x00], vec![0xe1, 0xe1, 0x00]),
        (vec![0x11, 0x00], vec![0xe2, 0x11, 0x00]),
        (
            vec![0x11, 0x00, 0x00, 0x22],
            vec![0xe2, 0x11, 0x02, 0x22, 0x00],
        ),
        (
            vec![0x11, 0x22, 0x00, 0x33],
            vec![0x03, 0x11, 0x22, 0x02, 0x33, 0x00],
        ),
        (bytes(222), cat(&[&[0xdf], &bytes(222), &[0x00]])),
        (bytes(223), cat(&[&[0xe0], &bytes(223), &[0x00]])),
        (
            bytes(224),
            cat(&[&[0xe0], &bytes(223), &[0x02, 0xe0, 0x00]]),
        ),
        // Zero pair after a short block (30 bytes: the longest pair code, FF).
        (
            cat(&[&bytes(30), &[0, 0, 9]]),
            cat(&[&[0xff], &bytes(30), &[0x02, 0x09, 0x00]]),
        ),
        // After a 31-byte block a pair code cannot be used: 20, then E1 for the rest.
        (
            cat(&[&bytes(31), &[0, 0]]),
            cat(&[&[0x20], &bytes(31), &[0xe1, 0x00]]),
        ),
        // After a full E0 block, the zero pair gets its own pair code.
        (
            cat(&[&bytes(223), &[0, 0, 9]]),
            cat(&[&[0xe0], &bytes(223), &[0xe1, 0x02, 0x09, 0x00]]),
        ),
    ];
    for (frame, wire) in cases {
        assert_eq!(encode(&frame), wire, "encoding {frame:02x?}");
        assert_eq!(decode(&wire).unwrap(), [frame], "decoding {wire:02x?}");
    }
}

#[test]
fn runs_around_the_block_sizes() {
    for len in [29, 30, 31, 222, 223, 224, 253, 254, 255, 446, 447] {
        for tail in [&[][..], &[0], &[0, 0], &[0, 0, 0], &[0, 0, 7]] {
            let frame = cat(&[&bytes(len), tail]);
            assert_eq!(
                decode(&encode(&frame)).unwrap(),
                [frame],
                "{len} + {tail:?}"
            );
        }
    }
    assert_eq!(
        encode(&bytes(446)).len(),
        449,
        "no 01 after a final E0 block"
    );
}

#[test]
fn frame_of_only_zeros() {
    for len in 0..12 {
        let frame = vec![0u8; len];
        let wire = encode(&frame);
        assert_eq!(
            decode(&wire).unwrap(),
            [frame],
            "{len} zeros as {wire:02x?}"
        );
        assert!(
            wire.len() <= len / 2 + 2,
            "pairs are eliminated: {wire:02x?}"
        );
    }
}

#[test]
fn non_canonical_forms_are_accepted() {
    assert_eq!(
        decode(&[0x02, 0x11, 0x01, 0x00]).unwrap(),
        [vec![0x11, 0x00]]
    );
    let wire = cat(&[&[0xe0], &bytes(223), &[0x01, 0x00]]);
    assert_eq!(decode(&wire).unwrap(), [bytes(223)]);
}

#[test]
fn malformed_and_truncated_frames_are_errors() {
    assert!(matches!(
        decode(&[0xe5, 0x11, 0x00]),
        Err(CobsError::Malformed)
    ));
    assert!(matches!(
        decode(&[0xe5, 0x11]),
        Err(CobsError::Truncated { .. })
    ));
}

#[test]
fn limit_counts_implied_zero_pairs() {
    // Each E1 decodes to two zeros: 60 codes are 120 bytes (119 after the final drop).
    let mut framer = CobsZpeFramer::new().max_frame_length(100);
    let mut buf = BytesMut::from(&[0xe1; 60][..]);
    assert!(matches!(
        framer.decode(&mut buf),
        Err(CobsError::TooLong { limit: 100 })
    ));
    let exact = vec![0u8; 100];
    assert_round_trip(|| CobsZpeFramer::new().max_frame_length(100), &[exact], &[]);
}

proptest! {
    #[test]
    fn round_trips(
        frames in prop::collection::vec(biased_bytes(&[0, 0, 0, 1, 0xe0, 0xff], 700), 0..4),
        cuts in points(3000),
    ) {
        assert_round_trip(CobsZpeFramer::new, &frames, &cuts);
    }

    #[test]
    fn decode_then_encode_reproduces_a_canonical_stream(frame in biased_bytes(&[0, 0, 1], 900)) {
        let wire = encode(&frame);
        let decoded = decode(&wire).unwrap();
        prop_assert_eq!(encode(&decoded[0]), wire);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in biased_bytes(&[0, 1, 0xe0, 0xe1, 0xff], 600), cuts in points(600)) {
        assert_no_panic(|| CobsZpeFramer::new().max_frame_length(100), &input, &cuts);
        assert_split_independent(|| CobsZpeFramer::new().max_frame_length(100), &input, &cuts);
    }
}
