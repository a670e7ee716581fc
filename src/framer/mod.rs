//! Framers: codecs that cut a byte stream into frames and turn frames back into bytes.
//!
//! Every framer is a tokio-util [`Decoder`](tokio_util::codec::Decoder) and
//! [`Encoder`](tokio_util::codec::Encoder), so it also works with tokio-util's
//! `Framed`, `FramedRead` and `FramedWrite` on its own. The built-in framers decode to
//! [`Bytes`](bytes::Bytes) split from the read buffer (without copying where the wire
//! format allows) and encode anything that is `AsRef<[u8]>`.
//!
//! | framer | wire format | default limit |
//! |---|---|---|
//! | [`IdentityFramer`] | whatever arrived (one read or datagram) | none needed |
//! | [`ChunkFramer`] | the next `n` bytes, then hand over | `n` |
//! | [`LineFramer`] | lines ending in LF or CRLF | 64 KiB |
//! | [`LengthFramer`] | 1/2/4/8-byte length, then data | 8 MiB |
//! | [`StuffingFramer`] | prefix + begin ... prefix + end, escaped | 64 KiB |
//! | [`CobsFramer`] | COBS blocks, `00`-terminated | 64 KiB |
//! | [`CobsZpeFramer`] | COBS with zero-pair elimination | 64 KiB |
//! | [`NetstringFramer`] | `len:data,` | 8 MiB |
//! | [`DelimiterFramer`] | data, then a chosen byte sequence | 64 KiB |
//! | [`DotFramer`] | dot-stuffed lines up to `.` (SMTP `DATA`) | 8 MiB |
//! | [`ContentLengthFramer`] | `Content-Length: N`, blank line, N bytes (LSP, DAP) | 8 MiB, header 4 KiB |
//!
//! # Limits and errors
//!
//! Every framer that buffers has a maximum frame length with a bounded default, and
//! reports a frame over it with its error enum's `TooLong` variant as soon as the
//! buffered bytes show it, never after buffering the whole frame. Encoders refuse
//! frames over the same limit, so a peer with the same settings accepts what is sent.
//! Each framer has its own error enum (`LineError`, `CobsError`, ...) with an `Io`
//! variant as tokio-util requires; a stream that ends inside a frame is a `Truncated`
//! error from `decode_eof`. A decode error is final for the stream: `Framed` ends it,
//! and a connection closes.
//!
//! # Switching
//!
//! [`FramerSwitch`] holds a receive framer and a send framer separately, each
//! replaceable at a frame boundary without losing buffered bytes.

mod any;
mod around;
mod chunk;
mod cobs;
mod cobs_zpe;
mod content_length;
mod delimiter;
mod dot;
mod identity;
mod length;
mod line;
mod named;
mod netstring;
mod scan;
mod stuffing;
mod switch;

pub use any::{AnyDecoder, AnyEncoder};
pub use chunk::{ChunkError, ChunkFramer};
pub use cobs::{CobsError, CobsFramer};
pub use cobs_zpe::CobsZpeFramer;
pub use content_length::{ContentLengthError, ContentLengthFramer, DEFAULT_MAX_HEADER_LENGTH};
pub use delimiter::{DelimiterError, DelimiterFramer};
pub use dot::{DotError, DotFramer};
pub use identity::IdentityFramer;
pub use length::{ByteOrder, LengthError, LengthFramer, LengthPrefix, DEFAULT_MAX_FRAME_LENGTH};
pub use line::{LineError, LineFramer, DEFAULT_MAX_LINE_LENGTH};
pub use named::{named, NAMES};
pub use netstring::{NetstringError, NetstringFramer};
pub use stuffing::{InvalidMarkers, StuffingBuilder, StuffingError, StuffingFramer};
pub use switch::FramerSwitch;
