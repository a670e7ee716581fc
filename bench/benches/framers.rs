//! Decode and encode throughput of every framer on 16-byte and 1 KiB frames, with the
//! equivalent codecs of tokio-util (`LinesCodec`, `LengthDelimitedCodec`) and the
//! `cobs` crate measured in the same run, so the ratios can be read side by side:
//!
//! ```text
//! cargo bench --bench framers
//! ```
//!
//! Each benchmark decodes (or encodes) one buffer of about 256 KiB of frames; the
//! reported throughput is in bytes of wire data per second.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use tendril_net::framer::{
    ByteOrder, CobsFramer, CobsZpeFramer, DelimiterFramer, DotFramer, LengthFramer, LengthPrefix,
    LineFramer, NetstringFramer, StuffingFramer,
};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec, LinesCodec};

const WIRE_BYTES: usize = 256 * 1024;
const SIZES: [(usize, &str); 2] = [(16, "16B"), (1024, "1KiB")];

/// Deterministic frame contents: printable bytes (no line ending, no `.` line, no NUL)
/// with, when `zeros` is set, a zero byte every 16 bytes or so (for COBS).
fn frames(size: usize, zeros: bool) -> Vec<Bytes> {
    let mut state: u32 = 0x9e37_79b9;
    let count = WIRE_BYTES / (size + 4);
    (0..count)
        .map(|_| {
            (0..size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    if zeros && state % 16 == 0 {
                        0
                    } else {
                        b'a' + (state % 26) as u8
                    }
                })
                .collect::<Vec<u8>>()
                .into()
        })
        .collect()
}

/// An empty buffer whose memory has been written once, so that page faults of a fresh
/// allocation are not timed.
fn touched(capacity: usize) -> BytesMut {
    let mut buf = BytesMut::zeroed(capacity);
    buf.clear();
    buf
}

fn encode_all<E: Encoder<Bytes>>(mut encoder: E, frames: &[Bytes]) -> BytesMut
where
    E::Error: std::fmt::Debug,
{
    let mut wire = BytesMut::new();
    for frame in frames {
        encoder.encode(frame.clone(), &mut wire).unwrap();
    }
    wire
}

fn bench_decode<D>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    wire: &[u8],
    mut make: impl FnMut() -> D,
) where
    D: Decoder,
    D::Error: std::fmt::Debug,
{
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function(name, |b| {
        b.iter_batched_ref(
            || (make(), BytesMut::from(wire)),
            |(decoder, buf)| {
                while let Some(frame) = decoder.decode(buf).unwrap() {
                    black_box(frame);
                }
            },
            BatchSize::LargeInput,
        )
    });
}

/// Encodes borrowed frames (`&[u8]`), as the built-in framers accept.
fn bench_encode<E>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    frames: &[Bytes],
    wire_len: usize,
    mut make: impl FnMut() -> E,
) where
    E: for<'a> Encoder<&'a [u8]>,
    for<'a> <E as Encoder<&'a [u8]>>::Error: std::fmt::Debug,
{
    group.throughput(Throughput::Bytes(wire_len as u64));
    group.bench_function(name, |b| {
        b.iter_batched_ref(
            || (make(), touched(wire_len)),
            |(encoder, out)| {
                for frame in frames {
                    encoder.encode(&frame[..], out).unwrap();
                }
                black_box(out.len());
            },
            BatchSize::LargeInput,
        )
    });
}

/// Encodes owned `Bytes` frames (cloned before the timed part), for codecs that take
/// only `Bytes`.
fn bench_encode_owned<E>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    frames: &[Bytes],
    wire_len: usize,
    mut make: impl FnMut() -> E,
) where
    E: Encoder<Bytes>,
    E::Error: std::fmt::Debug,
{
    group.throughput(Throughput::Bytes(wire_len as u64));
    group.bench_function(name, |b| {
        b.iter_batched_ref(
            || (make(), touched(wire_len), frames.to_vec()),
            |(encoder, out, owned)| {
                for frame in owned.drain(..) {
                    encoder.encode(frame, out).unwrap();
                }
                black_box(out.len());
            },
            BatchSize::LargeInput,
        )
    });
}

fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group
}

/// Our line framer against tokio-util's `LinesCodec`.
fn lines(c: &mut Criterion) {
    for (size, label) in SIZES {
        let frames = frames(size, false);
        let wire = encode_all(LineFramer::lf(), &frames);
        let mut group = configure(c, &format!("line/{label}"));
        bench_decode(
            &mut group,
            "decode/tendril LineFramer",
            &wire,
            LineFramer::lf,
        );
        bench_decode(
            &mut group,
            "decode/tokio-util LinesCodec",
            &wire,
            LinesCodec::new,
        );
        bench_encode(
            &mut group,
            "encode/tendril LineFramer",
            &frames,
            wire.len(),
            LineFramer::lf,
        );
        group.throughput(Throughput::Bytes(wire.len() as u64));
        let strings: Vec<String> = frames
            .iter()
            .map(|f| String::from_utf8(f.to_vec()).unwrap())
            .collect();
        group.bench_function("encode/tokio-util LinesCodec", |b| {
            b.iter_batched_ref(
                || (LinesCodec::new(), touched(wire.len())),
                |(codec, out)| {
                    for line in &strings {
                        codec.encode(line.as_str(), out).unwrap();
                    }
                    black_box(out.len());
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

/// Our length-prefix framer against tokio-util's `LengthDelimitedCodec` (both u32 BE).
fn length(c: &mut Criterion) {
    let ours = || LengthFramer::new(LengthPrefix::U32, ByteOrder::BigEndian);
    for (size, label) in SIZES {
        let frames = frames(size, false);
        let wire = encode_all(ours(), &frames);
        let mut group = configure(c, &format!("length/{label}"));
        bench_decode(&mut group, "decode/tendril LengthFramer", &wire, ours);
        bench_decode(
            &mut group,
            "decode/tokio-util LengthDelimitedCodec",
            &wire,
            LengthDelimitedCodec::new,
        );
        bench_encode(
            &mut group,
            "encode/tendril LengthFramer",
            &frames,
            wire.len(),
            ours,
        );
        bench_encode_owned(
            &mut group,
            "encode/tendril LengthFramer (owned Bytes)",
            &frames,
            wire.len(),
            ours,
        );
        bench_encode_owned(
            &mut group,
            "encode/tokio-util LengthDelimitedCodec",
            &frames,
            wire.len(),
            LengthDelimitedCodec::new,
        );
        group.finish();
    }
}

/// Our COBS framer against the `cobs` crate used as fast as it allows: frames split at
/// the terminator with memchr, decoded in place; encoded into a preallocated buffer.
fn cobs_framers(c: &mut Criterion) {
    for (size, label) in SIZES {
        let frames = frames(size, true);
        let wire = encode_all(CobsFramer::new(), &frames);
        let mut group = configure(c, &format!("cobs/{label}"));
        bench_decode(
            &mut group,
            "decode/tendril CobsFramer",
            &wire,
            CobsFramer::new,
        );
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function("decode/cobs crate", |b| {
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| {
                    while let Some(end) = memchr::memchr(0, &buf[..]) {
                        let mut frame = buf.split_to(end + 1);
                        let len = cobs::decode_in_place(&mut frame[..end]).unwrap();
                        frame.truncate(len);
                        black_box(frame.freeze());
                    }
                    buf.advance(buf.len());
                },
                BatchSize::LargeInput,
            )
        });
        bench_encode(
            &mut group,
            "encode/tendril CobsFramer",
            &frames,
            wire.len(),
            CobsFramer::new,
        );
        group.bench_function("encode/cobs crate", |b| {
            b.iter_batched_ref(
                || vec![1u8; wire.len() + frames.len() * 8],
                |out| {
                    let mut pos = 0;
                    for frame in &frames {
                        pos += cobs::encode(frame, &mut out[pos..]);
                        out[pos] = 0;
                        pos += 1;
                    }
                    black_box(pos);
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

/// Decode and encode of one framer without an equivalent elsewhere, for reference.
fn reference<C>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    frames: &[Bytes],
    make: impl Fn() -> C,
) where
    C: Decoder + Encoder<Bytes> + for<'a> Encoder<&'a [u8]>,
    <C as Decoder>::Error: std::fmt::Debug,
    <C as Encoder<Bytes>>::Error: std::fmt::Debug,
    for<'a> <C as Encoder<&'a [u8]>>::Error: std::fmt::Debug,
{
    let wire = encode_all(make(), frames);
    bench_decode(group, &format!("decode/{name}"), &wire, &make);
    bench_encode(group, &format!("encode/{name}"), frames, wire.len(), &make);
}

/// The framers without an equivalent elsewhere.
fn others(c: &mut Criterion) {
    for (size, label) in SIZES {
        let plain = frames(size, false);
        let zeros = frames(size, true);
        let mut group = configure(c, &format!("others/{label}"));
        reference(&mut group, "cobs-zpe", &zeros, CobsZpeFramer::new);
        reference(&mut group, "stuffing", &plain, StuffingFramer::new);
        reference(&mut group, "netstring", &plain, NetstringFramer::new);
        reference(&mut group, "delimiter", &plain, || {
            DelimiterFramer::new(*b"\0")
        });
        reference(&mut group, "dot", &plain, DotFramer::new);
        group.finish();
    }
}

criterion_group!(benches, lines, length, cobs_framers, others);
criterion_main!(benches);
