//! The fuzz targets' bodies and the oracles they share: each `fuzz_targets/NAME.rs`
//! calls `NAME` here, and a plain `cargo test` replays every committed corpus through
//! the same functions ([`TARGETS`], `framer-tests/tests/corpus.rs`).

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Decodes `input` fed in pieces whose sizes come from `sizes` (cycled), then to the
/// end of the stream. Stops at the first error; returns the frames and whether it
/// ended in an error.
pub fn decode_pieces<D: Decoder>(
    decoder: &mut D,
    input: &[u8],
    sizes: &[u8],
) -> (Vec<D::Item>, bool) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes
            .get(i % sizes.len().max(1))
            .map_or(rest.len(), |&s| usize::from(s) + 1);
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        i += 1;
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, false),
            Err(_) => return (frames, true),
        }
    }
}

/// The oracle for a framer: any input, however it is cut, gives the same outcome as
/// the whole input, never panics, and the frames it yields re-encode to a stream that
/// decodes back to the same frames.
pub fn check<C, M>(make: M, data: &[u8])
where
    C: Decoder<Item = Bytes> + Encoder<Bytes>,
    <C as Encoder<Bytes>>::Error: std::fmt::Debug,
    M: Fn() -> C,
{
    let (sizes, input) = data.split_at(data.len().min(4));
    let (whole, whole_failed) = decode_pieces(&mut make(), input, &[]);
    let (cut, cut_failed) = decode_pieces(&mut make(), input, sizes);
    if !whole_failed && !cut_failed {
        assert_eq!(whole, cut, "the outcome depends on how the input is cut");
    }
    assert_eq!(
        whole_failed, cut_failed,
        "an error depends on how the input is cut"
    );
    let mut wire = BytesMut::new();
    let mut encoder = make();
    for frame in &cut {
        encoder
            .encode(frame.clone(), &mut wire)
            .expect("a decoded frame must re-encode");
    }
    let (again, failed) = decode_pieces(&mut make(), &wire, sizes);
    assert!(!failed, "re-encoded frames must decode");
    assert_eq!(again, cut, "re-encoded frames must decode to themselves");
}

/// A target's body: one fuzzer input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory (`corpus/NAME`).
pub const TARGETS: &[(&str, Target)] = &[
    ("chunk", chunk),
    ("cobs", cobs),
    ("cobs_zpe", cobs_zpe),
    ("content_length", content_length),
    ("delimiter", delimiter),
    ("dot", dot),
    ("length", length),
    ("line", line),
    ("netstring", netstring),
    ("proxy", proxy),
    ("stuffing", stuffing),
    ("switch", switch),
];

/// A chunk of `n` bytes (the first input byte) of what follows, in pieces: exactly
/// those bytes, never an error.
pub fn chunk(data: &[u8]) {
    use tendril_net::framer::ChunkFramer;
    let Some((&n, data)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(data.len());
    let (frames, failed) = decode_pieces(
        &mut ChunkFramer::new(n as u64),
        data,
        &data[..data.len().min(3)],
    );
    assert!(!failed);
    assert_eq!(frames.concat(), &data[..n]);
}

pub fn cobs(data: &[u8]) {
    check(
        || tendril_net::framer::CobsFramer::new().max_frame_length(600),
        data,
    );
}

pub fn cobs_zpe(data: &[u8]) {
    check(
        || tendril_net::framer::CobsZpeFramer::new().max_frame_length(600),
        data,
    );
}

/// A delimiter of 1 to 4 bytes chosen by the input.
pub fn delimiter(data: &[u8]) {
    let Some((&len, data)) = data.split_first() else {
        return;
    };
    let len = usize::from(len % 4) + 1;
    if data.len() < len {
        return;
    }
    let (delimiter, data) = data.split_at(len);
    check(
        || tendril_net::framer::DelimiterFramer::new(delimiter).max_frame_length(128),
        data,
    );
}

pub fn dot(data: &[u8]) {
    check(
        || tendril_net::framer::DotFramer::new().max_frame_length(512),
        data,
    );
}

/// Every length prefix (for the `length` target, and the framers' property tests).
pub const LENGTH_PREFIXES: [tendril_net::framer::LengthPrefix; 8] = [
    tendril_net::framer::LengthPrefix::U8,
    tendril_net::framer::LengthPrefix::U16,
    tendril_net::framer::LengthPrefix::U32,
    tendril_net::framer::LengthPrefix::U64,
    tendril_net::framer::LengthPrefix::I8,
    tendril_net::framer::LengthPrefix::I16,
    tendril_net::framer::LengthPrefix::I32,
    tendril_net::framer::LengthPrefix::I64,
];

/// A length prefix (width, signedness and byte order chosen by the input).
pub fn length(data: &[u8]) {
    use tendril_net::framer::{ByteOrder, LengthFramer};
    let Some((&choice, data)) = data.split_first() else {
        return;
    };
    let prefix = LENGTH_PREFIXES[usize::from(choice) % LENGTH_PREFIXES.len()];
    let order = if choice & 0x80 == 0 {
        ByteOrder::BigEndian
    } else {
        ByteOrder::LittleEndian
    };
    check(
        || LengthFramer::new(prefix, order).max_frame_length(1024),
        data,
    );
}

/// CRLF lines and LF lines.
pub fn line(data: &[u8]) {
    use tendril_net::framer::LineFramer;
    check(|| LineFramer::new().max_frame_length(64), data);
    check(|| LineFramer::lf().max_frame_length(64), data);
}

/// The LSP base protocol's header: small limits, so that both are reached.
pub fn content_length(data: &[u8]) {
    check(
        || {
            tendril_net::framer::ContentLengthFramer::new()
                .max_frame_length(300)
                .max_header_length(64)
        },
        data,
    );
}

pub fn netstring(data: &[u8]) {
    check(
        || tendril_net::framer::NetstringFramer::new().max_frame_length(300),
        data,
    );
}

/// Byte stuffing with the default markers, and with a marker set the input chooses
/// when it is a valid one.
pub fn stuffing(data: &[u8]) {
    use tendril_net::framer::StuffingFramer;
    check(|| StuffingFramer::new().max_frame_length(256), data);
    let [p0, p1, begin, end, nop, data @ ..] = data else {
        return;
    };
    let build = || {
        StuffingFramer::builder()
            .prefix([*p0, *p1])
            .begin(*begin)
            .end(*end)
            .nop(*nop)
            .max_frame_length(256)
            .build()
    };
    if build().is_ok() {
        check(|| build().unwrap(), data);
    }
}

/// Frames of a stream decoded by a FramerSwitch that changes its receive framer after
/// every frame, as chosen by the input, fed whole and in pieces: same outcome, no
/// panic.
pub fn switch(data: &[u8]) {
    use tendril_net::framer::{
        CobsFramer, DotFramer, FramerSwitch, LengthFramer, LineFramer, NetstringFramer,
    };
    fn switch_to(framers: &mut FramerSwitch, choice: u8) {
        match choice % 5 {
            0 => framers.set_recv_framer(LineFramer::new().max_frame_length(64)),
            1 => framers.set_recv_framer(DotFramer::new().max_frame_length(256)),
            2 => framers.set_recv_framer(CobsFramer::new().max_frame_length(256)),
            3 => framers.set_recv_framer(NetstringFramer::new().max_frame_length(256)),
            _ => framers.set_recv_framer(LengthFramer::default().max_frame_length(256)),
        }
    }
    fn run(choices: &[u8], input: &[u8], piece: usize) -> (Vec<Bytes>, bool) {
        let mut framers = FramerSwitch::symmetric(LineFramer::new().max_frame_length(64));
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            buf.extend_from_slice(chunk);
            loop {
                match framers.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        let choice = choices
                            .get(frames.len() % choices.len().max(1))
                            .copied()
                            .unwrap_or(0);
                        switch_to(&mut framers, choice);
                        frames.push(frame);
                    }
                    Ok(None) => break,
                    Err(_) => return (frames, true),
                }
            }
        }
        (frames, false)
    }
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let (choices, input) = data.split_at(data.len().min(8));
    let whole = run(choices, input, input.len());
    let cut = run(choices, input, usize::from(piece % 16) + 1);
    assert_eq!(whole, cut);
}

/// The PROXY protocol header (v1 and v2) read from a stream, as the wrapper reads it
/// from a connection, required and optional: never a panic or a hang; an accepted
/// header's stream yields exactly the bytes after the header.
pub fn proxy(data: &[u8]) {
    use std::sync::OnceLock;
    use tendril_net::wrap::{NoWrapper, ProxyProtocolLayer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::{Layer, Service, ServiceExt};

    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    });
    async fn read_through(data: &[u8], optional: bool) {
        let (mut peer, stream) = tokio::io::duplex(data.len().max(1));
        peer.write_all(data).await.unwrap();
        peer.shutdown().await.unwrap();
        let mut proxy = ProxyProtocolLayer::new()
            .optional(optional)
            .layer(NoWrapper);
        let wrapped = ServiceExt::<tokio::io::DuplexStream>::ready(&mut proxy)
            .await
            .unwrap()
            .call(stream)
            .await;
        if let Ok(mut wrapped) = wrapped {
            let mut rest = Vec::new();
            wrapped.read_to_end(&mut rest).await.unwrap();
            // What follows the header is passed on untouched.
            assert!(data.ends_with(&rest), "the bytes after the header changed");
        }
    }
    runtime.block_on(async {
        read_through(data, false).await;
        read_through(data, true).await;
    });
}
