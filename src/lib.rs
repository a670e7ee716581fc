//! tendril-net: frame-based networking with connection tracking, on tokio and tower.
//!
//! Most protocols exchange frames over a stream or datagrams. tendril-net lets an
//! application deal only in frames:
//!
//! - **Framers** ([`framer`]) cut a byte stream into frames and turn frames back into
//!   bytes; every framer is a tokio-util codec. A connection has a receive framer and
//!   a send framer, each replaceable at any frame boundary without losing buffered
//!   bytes.
//! - **Application** ([`app::Application`]): a `tower::Service` from one inbound frame
//!   to zero or more outbound frames ([`app::IntoFrames`]). Tower middleware (timeouts,
//!   concurrency and rate limits, load shedding) composes around it.
//! - **Tendril** ([`Tendril`]): the connection, cheap to clone: its addresses and a
//!   handle to push frames, switch framers, or close, and to learn how it closed
//!   ([`CloseReason`]).
//! - **Acceptor** ([`app::Acceptor`]): the make-service that builds one application
//!   per connection; it may set framers, or refuse with [`app::RejectConnection`].
//! - **Wrappers** ([`wrap`]): `tower::Service`s from a raw socket to the stream a
//!   connection runs on: socket options, TLS (feature `tls`), composed by
//!   [`wrap::WrapperChain`]; a live connection can be wrapped too (STARTTLS).
//! - **Client** ([`client::Client`]): the other direction: a connection as a
//!   `tower::Service` from a request frame to its response, pipelined or multiplexed by
//!   tag, over any manager.
//! - **Managers** ([`TcpManager`], [`UdpManager`], `UnixManager`) own an endpoint:
//!   listen, accept, connect out ([`Connect`]), track live connections by (local,
//!   remote) [`Addr`], stop, shut down gracefully. Over UDP every peer is a connection,
//!   in a bounded table that sheds quiet peers for newcomers. Lookups, stats, stop and
//!   graceful shutdown are the [`Manager`] trait's, the same on every transport. The
//!   [`Registry`] returns the one manager per (transport, endpoint) and takes plug-in
//!   transports by name: every manager stands on one public [`manager::Engine`], and a
//!   transport from another crate gets the same engine the built-ins use
//!   ([`manager::StreamTransport`] for a listener and a dialer, `Engine::serve` for one
//!   connection, `Engine::serve_datagrams` for a connectionless router).
//!
//! # A line echo server
//!
//! ```no_run
//! use bytes::Bytes;
//! use tendril_net::app::{acceptor_fn, service};
//! use tendril_net::framer::LineFramer;
//! use tendril_net::wrap::NoWrapper;
//! use tendril_net::{BoxError, Manager, TcpManager};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), BoxError> {
//!     let manager = TcpManager::new("127.0.0.1:7000".parse()?);
//!     let addr = manager.start(acceptor_fn(|tendril| {
//!         // CRLF lines in both directions, 64 KiB limit by default.
//!         tendril.set_framers(LineFramer::new(), LineFramer::new())?;
//!         // The application: one frame in, the same frame out.
//!         Ok(service(|line: Bytes| async move { Ok(line) }))
//!     }), NoWrapper)?;
//!     println!("listening on tcp {addr}");
//!     tokio::signal::ctrl_c().await?;
//!     // Stop accepting, answer what is in flight, then close.
//!     manager.graceful_shutdown(std::time::Duration::from_secs(5)).await;
//!     Ok(())
//! }
//! ```
//!
//! # Semantics
//!
//! One task per connection (the driver) owns its socket and its application. Frames
//! are delivered in order and, by default, one at a time: the next frame is decoded
//! only after the previous reply was written, so a framer switch made while handling a
//! frame applies to the very next one. The application's `poll_ready` is asked only
//! with a decoded frame in hand, so an idle connection holds no readiness (a shared
//! `GlobalConcurrencyLimitLayer` or `Buffer` slot is taken per frame, not per
//! connection); while it is pending, nothing more is read and TCP backpressure reaches
//! the peer. `max_in_flight(n)` pipelines; replies go out in request order, or in
//! completion order ([`ReplyOrder`]) for protocols whose replies carry a tag. Commands
//! from a [`Tendril`] apply in the order issued, with one rule for a call: **the frames
//! a call returns are written before the control commands issued during that call take
//! effect** (close after the goodbye, upgrade after the "220 Ready", a send-framer
//! switch after the reply). An application error or panic closes that connection only.
//!
//! # Limits and defaults
//!
//! | bound | default |
//! |---|---|
//! | maximum frame length | per framer: 64 KiB line-like, 8 MiB length-prefixed |
//! | outbound queue per connection | 1024 frames and commands ([`ConnectionConfig`]) |
//! | connections per manager | 10,000 (fewer where the open-file limit leaves room for fewer); when full, shared fairly by source (a newcomer below its source's share displaces a connection of the source holding the most; one at its share is refused), else a newcomer sheds the connection idle longest (2 s at least; [`CloseReason::Shed`]), else it is closed at once and counted |
//! | connections per source (IP, IPv6 /64, Unix uid) | no limit (`max_per_source`, `source_rate`) |
//! | buffered bytes of all a manager's connections | 256 MiB beyond 16 KiB read and 64 KiB write buffer each; when short, the largest holders are shed ([`MemoryBudget`]) |
//! | application call | no limit ([`ConnectionConfig::call_timeout`]) |
//! | flush time on close (`linger`) | 5 s |
//! | pending output the peer takes none of | 60 s, then closed ([`WriteStalled`]) |
//! | a frame being assembled | must grow 1 KiB per 10 s ([`ReadRate`], [`ReadTooSlow`]) |
//! | idle timeout | off for TCP |
//! | TLS handshake | 10 s, at most 256 at once per wrapper; when full, the oldest without a ClientHello is shed |
//! | PROXY protocol header | 5 s, 4 KiB, at most 256 waiting at once per wrapper (shed as TLS handshakes are); from any source unless `trusted` |
//! | client requests in flight | 64; multiplexed tags 65,536, quarantine 30 s |
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
//! - `tls`: the TLS wrappers (`wrap::TlsServerLayer`, `wrap::TlsClientLayer`) over
//!   rustls's unbuffered API (an idle session holds no buffer), with its `ring`
//!   provider.
//! - `proxy-protocol`: the PROXY protocol v1/v2 wrapper (`wrap::ProxyProtocolLayer`),
//!   parsing with the `ppp` crate.
//! - `systemd`: sockets passed by systemd (`manager::systemd`, Unix), with `listenfd`.
//! - `metrics`: the managers' counters through the `metrics` facade
//!   (`manager::metrics`).
//! - `full`: all of them.
//!
//! The default build has none: TCP, UDP, Unix sockets and every framer.
//!
//! # The code
//!
//! `ARCHITECTURE.md` (beside `Cargo.toml`) maps the code: the layers, bottom to top
//! `error`, `pool`, `shed` < [`framer`] < [`wrap`] < the connection (`tendril`) < [`app`] <
//! [`manager`] < [`client`], each importing only from below (checked in CI), where
//! each concept lives, and the path of a frame.
//!
//! # Observability
//!
//! Each connection runs in a `tracing` span `tendril` (transport, local, remote, id)
//! with events for accept, reject, close (with the reason) and framer switches;
//! managers keep counters ([`Stats`]).
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
pub mod client;
mod error;
pub mod framer;
pub mod manager;
mod pool;
mod shed;
mod tendril;
pub mod wrap;

pub use error::{BoxError, Error, Result};
pub use manager::{
    find_tendril, get_manager, registry, Connect, Manager, Registry, Stats, TcpBuilder, TcpManager,
    Transport, UdpBuilder, UdpManager,
};
#[cfg(unix)]
pub use manager::{UnixBuilder, UnixManager};
pub use tendril::{
    Addr, CallTimeout, CloseReason, ConnectionConfig, ConnectionInfo, MemoryBudget, ReadRate,
    ReadTooSlow, ReplyOrder, StreamAddr, Tendril, TrySendError, WriteStalled,
};
pub use wrap::BoxIo;

/// Every `rust` block of README.md, compiled (and run unless `no_run`) as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
