//! The client side: a connection as a `tower::Service` from a request frame to the
//! response frame that answers it, so `Timeout`, `ConcurrencyLimit`, `Buffer`, `Retry`
//! or `tower::reconnect` go in front of a framed connection as they do in front of an
//! HTTP client.
//!
//! Two ways to match responses to requests:
//!
//! - **pipelined** ([`Client::pipelined`]): responses come back in request order (line
//!   protocols, SMTP-like, Redis-like); many requests are in flight on one connection.
//! - **multiplexed** ([`Client::multiplexed`]): each request carries a tag written by a
//!   [`Tagger`], and responses may come back in any order (DNS IDs, binary RPC). Tags
//!   are never shared by two requests in flight; when all are held, `poll_ready` waits.
//!
//! A connection can also serve and call at once: [`Peer`] sorts its inbound frames
//! (a [`Classify`]) into requests and notifications for an application and responses
//! for its own calls, and gives each end a multiplexed client on it (JSON-RPC, LSP).
//!
//! A client connects through any manager ([`Connect`](crate::Connect)): TCP, UDP
//! (through the manager's connection tracking, so replies from the target reach the
//! client), Unix, a plug-in's, with a wrapper (TLS) or [`NoWrapper`](crate::wrap::NoWrapper).
//! Without a manager, [`ClientBuilder::connect_tcp`] dials TCP and
//! [`ClientBuilder::over`] runs over any stream already connected (a
//! `tokio::io::duplex` in a test).
//!
//! ```no_run
//! use std::time::Duration;
//! use bytes::Bytes;
//! use tendril_net::client::Client;
//! use tendril_net::framer::{FramerSwitch, LineFramer};
//! use tendril_net::BoxError;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # async fn run() -> Result<(), BoxError> {
//! let client = Client::<Bytes>::pipelined()
//!     .connect_tcp("127.0.0.1:7100".parse()?, FramerSwitch::symmetric(LineFramer::new()))
//!     .await?;
//! let mut kv = ServiceBuilder::new()
//!     .timeout(Duration::from_secs(5))
//!     .service(client);
//! let answer = kv.ready().await?.call(Bytes::from("GET greeting")).await?;
//! println!("{}", String::from_utf8_lossy(&answer));
//! # Ok(()) }
//! # let _ = run();
//! ```
//!
//! To survive a dropped connection, wrap a [`ClientMaker`] in
//! `tower::reconnect::Reconnect`: a client whose connection closed fails `poll_ready`
//! with the close reason, and `Reconnect` connects a new one for the next request.
//!
//! Inside, `flight` is the one structure behind the in-flight bound, the tags and the
//! routing of responses; `dispatch` is the connection's application that routes them
//! (a peer's `PeerApp` routes them too, before its application sees a frame).

mod builder;
mod dispatch;
mod flight;
mod peer;
mod service;
mod stats;
mod tags;

pub use builder::{
    ClientBuilder, ClientMaker, DEFAULT_MAX_IN_FLIGHT, DEFAULT_TAG_QUARANTINE, DEFAULT_TAG_SPACE,
};
pub use peer::{
    Classify, Kind, Peer, PeerAcceptor, PeerApp, PeerFuture, PeerOverload, DEFAULT_MAX_INBOUND,
};
pub use service::{Client, ResponseFuture, ResponseTimeout};
pub use stats::ClientStats;
pub use tags::Tagger;
