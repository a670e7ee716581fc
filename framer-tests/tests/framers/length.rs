use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{ByteOrder, LengthError, LengthFramer, LengthPrefix};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

use crate::corpus::fuzz::LENGTH_PREFIXES as PREFIXES;
const ORDERS: [ByteOrder; 3] = [
    ByteOrder::BigEndian,
    ByteOrder::LittleEndian,
    ByteOrder::Native,
];

fn encode(framer: &mut LengthFramer, frame: &[u8]) -> Result<Vec<u8>, LengthError> {
    let mut out = BytesMut::new();
    framer.encode(frame, &mut out)?;
    Ok(out.to_vec())
}

#[test]
fn wire_format_of_every_width_and_order() {
    use ByteOrder::*;
    use LengthPrefix::*;
    let cases: [(LengthPrefix, ByteOrder, &[u8]); 8] = [
        (U8, BigEndian, b"\x02"),
        (U16, BigEndian, b"\x00\x02"),
        (U16, LittleEndian, b"\x02\x00"),
        (U32, BigEndian, b"\x00\x00\x00\x02"),
        (U32, LittleEndian, b"\x02\x00\x00\x00"),
        (U64, BigEndian, b"\x00\x00\x00\x00\x00\x00\x00\x02"),
        (I32, BigEndian, b"\x00\x00\x00\x02"),
        (I64, LittleEndian, b"\x02\x00\x00\x00\x00\x00\x00\x00"),
    ];
    for (prefix, order, header) in cases {
        let mut framer = LengthFramer::new(prefix, order);
        let wire = encode(&mut framer, b"hi").unwrap();
        assert_eq!(&wire[..header.len()], header, "{prefix:?} {order:?}");
        assert_eq!(&wire[header.len()..], b"hi");
        assert_eq!(decode_all(&mut framer, &wire).unwrap(), [&b"hi"[..]]);
    }
    let mut native = LengthFramer::new(U32, Native);
    assert_eq!(encode(&mut native, b"x").unwrap()[..4], 1u32.to_ne_bytes());
}

#[test]
fn empty_frame_is_just_the_prefix() {
    let mut framer = LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian);
    assert_eq!(encode(&mut framer, b"").unwrap(), b"\x00\x00");
    assert_eq!(
        to_vecs(decode_all(&mut framer, b"\x00\x00").unwrap()),
        [Vec::<u8>::new()]
    );
}

#[test]
fn negative_signed_lengths_are_errors() {
    for (prefix, wire) in [
        (LengthPrefix::I8, &b"\xff"[..]),
        (LengthPrefix::I16, b"\x80\x00"),
        (LengthPrefix::I32, b"\xff\xff\xff\xfe"),
        (LengthPrefix::I64, b"\xff\xff\xff\xff\xff\xff\xff\xff"),
    ] {
        let mut framer = LengthFramer::new(prefix, ByteOrder::BigEndian);
        let err = decode_all(&mut framer, wire).unwrap_err();
        assert!(
            matches!(err, LengthError::Negative { length } if length < 0),
            "{err:?}"
        );
    }
}

#[test]
fn over_limit_length_fails_on_the_prefix_alone() {
    let mut framer = LengthFramer::new(LengthPrefix::U32, ByteOrder::BigEndian).max_frame_length(8);
    let mut buf = BytesMut::from(&b"\x00\x00\x00\x09"[..]);
    let err = framer.decode(&mut buf).unwrap_err();
    assert!(
        matches!(
            err,
            LengthError::TooLong {
                length: 9,
                limit: 8
            }
        ),
        "{err:?}"
    );

    // A 2^63 length with the default limit: refused, nothing allocated for it.
    let mut framer = LengthFramer::new(LengthPrefix::U64, ByteOrder::BigEndian);
    let mut buf = BytesMut::from(&b"\x80\x00\x00\x00\x00\x00\x00\x00"[..]);
    assert!(matches!(
        framer.decode(&mut buf),
        Err(LengthError::TooLong { .. })
    ));
    assert!(buf.capacity() < 1024);
}

#[test]
fn frame_of_exactly_the_limit_passes() {
    let mut framer =
        LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian).max_frame_length(300);
    let frame = vec![7u8; 300];
    let wire = encode(&mut framer, &frame).unwrap();
    assert_eq!(
        to_vecs(decode_bytewise(&mut framer, &wire).unwrap()),
        [frame]
    );
    assert!(matches!(
        encode(&mut framer, &[7u8; 301]),
        Err(LengthError::TooLong {
            length: 301,
            limit: 300
        })
    ));
}

#[test]
fn default_limit_is_8_mib_and_applies() {
    let mut framer = LengthFramer::default();
    assert_eq!(framer.get_max_frame_length(), 8 * 1024 * 1024);
    let mut buf = BytesMut::from(&(8u32 * 1024 * 1024 + 1).to_be_bytes()[..]);
    assert!(matches!(
        framer.decode(&mut buf),
        Err(LengthError::TooLong { .. })
    ));
}

#[test]
fn announced_length_does_not_preallocate_it() {
    let mut framer = LengthFramer::default();
    let mut buf = BytesMut::from(&(8u32 * 1024 * 1024).to_be_bytes()[..]);
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() <= 128 * 1024, "capacity {}", buf.capacity());
}

#[test]
fn encoding_past_the_integer_is_an_error_not_a_truncation() {
    let mut u8_framer = LengthFramer::new(LengthPrefix::U8, ByteOrder::BigEndian);
    assert_eq!(encode(&mut u8_framer, &[1u8; 255]).unwrap().len(), 256);
    assert!(matches!(
        encode(&mut u8_framer, &[1u8; 256]),
        Err(LengthError::Overflow {
            length: 256,
            max: 255
        })
    ));
    let mut i8_framer = LengthFramer::new(LengthPrefix::I8, ByteOrder::BigEndian);
    assert!(encode(&mut i8_framer, &[1u8; 127]).is_ok());
    assert!(matches!(
        encode(&mut i8_framer, &[1u8; 128]),
        Err(LengthError::Overflow { max: 127, .. })
    ));
    assert_eq!(LengthPrefix::U16.max_length(), 65_535);
    assert_eq!(LengthPrefix::I16.max_length(), 32_767);
    assert_eq!(LengthPrefix::U64.max_length(), u64::MAX);
    assert_eq!(LengthPrefix::I64.max_length(), i64::MAX as u64);
}

#[test]
fn stream_ending_inside_a_frame_is_truncated() {
    let mut framer = LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian);
    assert!(matches!(
        decode_all(&mut framer, b"\x00\x05hel"),
        Err(LengthError::Truncated { buffered: 5 })
    ));
    let mut framer = LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian);
    assert!(matches!(
        decode_all(&mut framer, b"\x00"),
        Err(LengthError::Truncated { .. })
    ));
}

proptest! {
    #[test]
    fn round_trips_every_prefix_and_order(
        prefix in prop::sample::select(&PREFIXES[..]),
        order in prop::sample::select(&ORDERS[..]),
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..127), 0..6),
        cuts in points(800),
    ) {
        assert_round_trip(|| LengthFramer::new(prefix, order), &frames, &cuts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop::sample::select(&PREFIXES[..]),
        input in prop::collection::vec(any::<u8>(), 0..300),
        cuts in points(300),
    ) {
        assert_no_panic(|| LengthFramer::new(prefix, ByteOrder::BigEndian).max_frame_length(64), &input, &cuts);
        assert_split_independent(|| LengthFramer::new(prefix, ByteOrder::LittleEndian).max_frame_length(64), &input, &cuts);
    }
}
