use bytes::BytesMut;
use proptest::prelude::*;
use tendril_net::framer::IdentityFramer;
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

#[test]
fn everything_buffered_is_one_frame() {
    let mut framer = IdentityFramer::new();
    let mut buf = BytesMut::from(&b"\x00\xffabc"[..]);
    assert_eq!(
        framer.decode(&mut buf).unwrap().unwrap(),
        &b"\x00\xffabc"[..]
    );
    assert!(buf.is_empty());
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    assert_eq!(framer.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn encodes_unchanged_including_empty() {
    let mut framer = IdentityFramer::new();
    let mut out = BytesMut::new();
    framer.encode(&b""[..], &mut out).unwrap();
    framer.encode(&b"\x00abc"[..], &mut out).unwrap();
    assert_eq!(&out[..], b"\x00abc");
}

proptest! {
    #[test]
    fn frames_concatenate_to_the_input(input in prop::collection::vec(any::<u8>(), 0..300), cuts in points(300)) {
        let frames = decode_split(&mut IdentityFramer::new(), &input, &cuts).unwrap();
        prop_assert!(frames.iter().all(|f| !f.is_empty()));
        prop_assert_eq!(frames.concat(), input);
    }
}
