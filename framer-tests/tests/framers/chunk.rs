use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::{ChunkError, ChunkFramer};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

#[test]
fn passes_n_bytes_then_leaves_the_rest() {
    let mut framer = ChunkFramer::new(5);
    let mut buf = BytesMut::from("he");
    assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "he");
    assert_eq!(framer.remaining(), 3);
    buf.extend_from_slice(b"lloNEXT");
    assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "llo");
    assert!(framer.is_done());
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    assert_eq!(framer.decode_eof(&mut buf).unwrap(), None);
    assert_eq!(&buf[..], b"NEXT");
}

#[test]
fn zero_length_chunk_is_one_empty_frame_at_once() {
    let mut framer = ChunkFramer::new(0);
    assert!(!framer.is_done(), "its empty frame is still due");
    // Due without any input, so a switch to it never waits for the peer.
    assert_eq!(framer.decode(&mut BytesMut::new()).unwrap().unwrap(), "");
    assert!(framer.is_done());
    let mut buf = BytesMut::from("x");
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    assert_eq!(framer.decode_eof(&mut buf).unwrap(), None);
    assert_eq!(&buf[..], b"x");
}

#[test]
fn stream_ending_early_is_truncated() {
    let mut framer = ChunkFramer::new(10);
    let err = decode_all(&mut framer, b"1234").unwrap_err();
    assert!(
        matches!(err, ChunkError::Truncated { remaining: 6 }),
        "{err:?}"
    );
}

#[test]
fn encoder_refuses_to_overrun() {
    let mut framer = ChunkFramer::new(4);
    let mut out = BytesMut::new();
    framer.encode(&b"ab"[..], &mut out).unwrap();
    let err = framer.encode(&b"cde"[..], &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            ChunkError::Overrun {
                length: 3,
                remaining: 2
            }
        ),
        "{err:?}"
    );
    framer.encode(&b"cd"[..], &mut out).unwrap();
    assert_eq!(&out[..], b"abcd");
}

proptest! {
    #[test]
    fn frames_are_exactly_the_first_n_bytes(
        input in prop::collection::vec(any::<u8>(), 0..300),
        n in 0usize..300,
        cuts in points(300),
    ) {
        let n = n.min(input.len());
        let mut framer = ChunkFramer::new(n as u64);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for piece in split_at(&input, &cuts) {
            buf.extend_from_slice(&piece);
            while let Some(frame) = framer.decode(&mut buf).unwrap() {
                // Only a chunk of 0 bytes has a frame that is empty, its only one.
                prop_assert!(!frame.is_empty() || (n == 0 && frames.is_empty()));
                frames.push(frame);
            }
        }
        prop_assert_eq!(frames.concat(), &input[..n]);
        prop_assert_eq!(&buf[..], &input[n..]);
    }
}
