//! tendril-net: frame-based networking with connection tracking, on tokio and tower.
//!
//! Most protocols exchange frames over a stream or datagrams. tendril-net lets an
//! application deal only in frames. This release provides the foundation: the
//! [`framer`] module, a library of tokio-util codecs that cut byte streams into frames
//! and back, and [`FramerSwitch`](framer::FramerSwitch), the pair of receive and send
//! framers a connection holds and may swap at any frame boundary without losing
//! buffered bytes.
//!
//! # Framers
//!
//! identity, chunk(n), line (CRLF or LF), length prefix (1/2/4/8 bytes, signed or
//! unsigned, any byte order), byte stuffing, COBS and COBS/ZPE, netstring, delimiter,
//! and the dot-terminated body of SMTP `DATA`. Each documents its wire format, its
//! limit and its errors; every buffering framer has a maximum frame length on by
//! default (64 KiB for line-like framers, 8 MiB for length-prefixed ones).
//!
//! ```
//! use bytes::BytesMut;
//! use tendril_net::framer::{LengthFramer, LengthPrefix, ByteOrder, LineFramer};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! // Transcode a line into a length-prefixed frame.
//! let mut lines = LineFramer::new();
//! let mut binary = LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian);
//! let mut input = BytesMut::from("hello\r\n");
//! let mut output = BytesMut::new();
//! while let Some(frame) = lines.decode(&mut input)? {
//!     binary.encode(frame, &mut output)?;
//! }
//! assert_eq!(&output[..], b"\x00\x05hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A connection's framers
//!
//! A line protocol read from any `AsyncRead + AsyncWrite`, switching to the SMTP body
//! framer after `DATA` and back, with replies written through the send framer:
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use tendril_net::framer::{DotFramer, FramerSwitch, LineFramer};
//! use tokio::io::{AsyncRead, AsyncWrite};
//! use tokio_util::codec::Framed;
//!
//! async fn serve<T: AsyncRead + AsyncWrite + Unpin>(io: T) -> tendril_net::Result<()> {
//!     let mut conn = Framed::new(io, FramerSwitch::symmetric(LineFramer::new()));
//!     let mut in_body = false;
//!     while let Some(frame) = conn.next().await {
//!         let frame = frame?;
//!         if in_body {
//!             conn.codec_mut().set_recv_framer(LineFramer::new());
//!             in_body = false;
//!             conn.send(format!("250 got {} bytes", frame.len()).into()).await?;
//!         } else if frame == "DATA" {
//!             conn.codec_mut().set_recv_framer(DotFramer::new());
//!             in_body = true;
//!             conn.send("354 go ahead".into()).await?;
//!         } else {
//!             conn.send("250 OK".into()).await?;
//!         }
//!     }
//!     Ok(())
//! }
//! # let (client, server) = tokio::io::duplex(1024);
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async move {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     let mut client = client;
//! #     let server = tokio::spawn(serve(server));
//! #     client.write_all(b"DATA\r\nhi\r\n.\r\nQUIT\r\n").await.unwrap();
//! #     client.shutdown().await.unwrap();
//! #     let mut replies = String::new();
//! #     client.read_to_string(&mut replies).await.unwrap();
//! #     assert_eq!(replies, "354 go ahead\r\n250 got 4 bytes\r\n250 OK\r\n");
//! #     server.await.unwrap().unwrap();
//! # });
//! ```
//!
//! # Errors
//!
//! Framers have one error enum each (see [`framer`]); the crate-level [`Error`] is
//! opaque, with predicates such as [`Error::is_framing`] and the cause reachable
//! through `source()`.
//!
//! # Feature flags
//!
//! - `full`: everything (no optional parts exist yet).
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85, as tokio requires.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub mod app;
mod error;
pub mod framer;
pub mod manager;
mod tendril;

pub use error::{BoxError, Error, Result};
pub use manager::{
    find_tendril, get_manager, registry, Endpoint, Manager, Registry, Stats, TcpBuilder,
    TcpManager, Transport,
};
pub use tendril::{BoxIo, CloseReason, ConnectionConfig, ConnectionInfo, Tendril, TrySendError};
