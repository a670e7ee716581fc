//! framecat: transcode a framed byte stream from one framer to another.
//!
//! ```text
//! cargo run --release --example framecat -- --from NAME --to NAME < in > out
//! ```
//!
//! Reads stdin, decodes it with the `--from` framer, encodes every frame with the `--to`
//! framer, and writes the result to stdout. Names: identity, line (CRLF), line-lf,
//! length-u8, length-u16, length-u32, length-u64 (big-endian unsigned), length-u16le,
//! length-u32le, length-i32 (signed big-endian), stuffing (default markers), cobs,
//! cobs-zpe, netstring, nul (NUL-delimited), dot (SMTP DATA body), and hex (one frame
//! per line as lowercase hex, usable on either side).
//!
//! A framing error exits with status 1 and a message naming the framer, the error and
//! the byte offset of the frame in error; the frames decoded before it are written
//! first. Input that ends inside a frame is an error too.
//!
//! ```text
//! $ printf 'hello\r\nworld\r\n' | framecat --from line --to hex
//! 68656c6c6f
//! 776f726c64
//! $ printf '68656c6c6f\n' | framecat --from hex --to cobs | xxd
//! 00000000: 0668 656c 6c6f 00                        .hello.
//! ```

#[path = "shared/cli.rs"]
mod cli;

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use bytes::{BufMut, Bytes, BytesMut};
use cli::{value, Cli};
use tendril_net::framer::{named, AnyDecoder, AnyEncoder, LineError, LineFramer};
use tokio_util::codec::{Decoder, Encoder};

fn names() -> String {
    format!("{}, hex", tendril_net::framer::NAMES.join(", "))
}

/// A framer by name: the library's named framers, plus `hex`.
fn framer(name: &str) -> Option<(AnyDecoder, AnyEncoder)> {
    if name == "hex" {
        return Some((
            AnyDecoder::new(HexLines::default()),
            AnyEncoder::new(HexLines::default()),
        ));
    }
    named(name)
}

/// One frame per line, as hex digits: lowercase when encoding, either case decoding.
#[derive(Debug, Clone, Default)]
struct HexLines {
    lines: LineFramer,
}

#[derive(Debug)]
enum HexError {
    Line(LineError),
    NotHex,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::Line(err) => err.fmt(f),
            HexError::NotHex => f.write_str("line is not an even number of hex digits"),
        }
    }
}

impl StdError for HexError {}

impl From<io::Error> for HexError {
    fn from(err: io::Error) -> Self {
        HexError::Line(LineError::Io(err))
    }
}

impl Decoder for HexLines {
    type Item = Bytes;
    type Error = HexError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, HexError> {
        self.lines
            .decode(src)
            .map_err(HexError::Line)?
            .map(unhex)
            .transpose()
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, HexError> {
        self.lines
            .decode_eof(src)
            .map_err(HexError::Line)?
            .map(unhex)
            .transpose()
    }
}

fn unhex(line: Bytes) -> Result<Bytes, HexError> {
    let digit = |c: u8| (c as char).to_digit(16).ok_or(HexError::NotHex);
    if line.len() % 2 != 0 {
        return Err(HexError::NotHex);
    }
    let mut out = BytesMut::with_capacity(line.len() / 2);
    for pair in line.chunks_exact(2) {
        out.put_u8((digit(pair[0])? * 16 + digit(pair[1])?) as u8);
    }
    Ok(out.freeze())
}

impl Encoder<Bytes> for HexLines {
    type Error = HexError;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), HexError> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        dst.reserve(frame.len() * 2 + 1);
        for byte in frame {
            dst.put_u8(DIGITS[usize::from(byte >> 4)]);
            dst.put_u8(DIGITS[usize::from(byte & 0xf)]);
        }
        dst.put_u8(b'\n');
        Ok(())
    }
}

struct Args {
    from: String,
    to: String,
}

fn parse_args() -> Args {
    let about = format!(
        "Reads frames from stdin with one framer and writes them to stdout with another.\n\
         Framer names: {}",
        names()
    );
    let cli = Cli::parse(
        "framecat",
        "--from NAME --to NAME < in > out",
        &about,
        &[
            value("--from", "NAME", "the framer stdin is decoded with"),
            value("--to", "NAME", "the framer stdout is encoded with"),
        ],
    );
    match (cli.get("--from"), cli.get("--to")) {
        (Some(from), Some(to)) => Args {
            from: from.to_owned(),
            to: to.to_owned(),
        },
        _ => cli.fail("both --from and --to are required"),
    }
}

/// Why transcoding stopped.
enum Failure {
    Io(io::Error),
    Decode {
        error: tendril_net::Error,
        offset: u64,
    },
    Encode {
        error: tendril_net::Error,
        offset: u64,
    },
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure::Io(err)
    }
}

fn transcode(
    mut decoder: AnyDecoder,
    mut encoder: AnyEncoder,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<(), Failure> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut total: u64 = 0; // bytes read
    let mut eof = false;
    loop {
        if !eof {
            let n = match input.read(&mut chunk) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err.into()),
            };
            buf.extend_from_slice(&chunk[..n]);
            total += n as u64;
            eof = n == 0;
        }
        loop {
            // Offset of the frame being decoded: everything before it was consumed.
            let offset = total - buf.len() as u64;
            let decoded = if eof {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode(&mut buf)
            };
            let frame = match decoded {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    output.write_all(&out)?;
                    return Err(Failure::Decode { error, offset });
                }
            };
            if let Err(error) = encoder.encode(frame, &mut out) {
                output.write_all(&out)?;
                return Err(Failure::Encode { error, offset });
            }
        }
        if out.len() >= 32 * 1024 || eof {
            output.write_all(&out)?;
            out.clear();
        }
        if eof {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let args = parse_args();
    let (Some((decoder, _)), Some((_, encoder))) = (framer(&args.from), framer(&args.to)) else {
        eprintln!("framecat: unknown framer name\nnames: {}", names());
        return ExitCode::from(2);
    };
    let stdout = io::stdout();
    let mut output = io::BufWriter::new(stdout.lock());
    let result = transcode(decoder, encoder, &mut io::stdin().lock(), &mut output);
    let flushed = output.flush();
    let message = match result {
        Ok(()) => match flushed {
            Ok(()) => return ExitCode::SUCCESS,
            Err(err) => format!("writing output: {err:#}"),
        },
        Err(Failure::Io(err)) => format!("I/O error: {err:#}"),
        Err(Failure::Decode { error, offset }) => format!(
            "decoding with framer `{}` failed at byte offset {offset}: {error:#}",
            args.from,
        ),
        Err(Failure::Encode { error, offset }) => format!(
            "encoding with framer `{}` failed for the frame at input byte offset {offset}: \
             {error:#}",
            args.to,
        ),
    };
    eprintln!("framecat: {message}");
    ExitCode::FAILURE
}
