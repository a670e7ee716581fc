//! [`Peer`]: one connection that serves and calls. Inbound frames are sorted by a
//! [`Classify`] into requests and notifications (served by the application),
//! responses (handed to the outbound call waiting for them) and cancels; each end gets
//! a [`Client`] that calls the other over the same connection.
//!
//! Responses never wait for the application: [`PeerApp`] is always ready, routes a
//! response as soon as it is decoded, and runs each request on a clone of the
//! application, which waits for the application's readiness in its own future. The
//! connection runs up to [`max_inbound`](Peer::max_inbound) requests at once, replies
//! in completion order, and keeps one more frame's room for reading, so a response
//! is always read, whatever the application's limits and however long its handlers
//! wait on the peer.
//!
//! `classify.rs` is the protocol's part (what a frame is, how a request is tagged),
//! `builder.rs` the setup of a connection (`Peer`, its acceptor), `app.rs` the
//! application every peer connection runs (`PeerApp` and its call future).

mod app;
mod builder;
mod classify;

pub use app::{PeerApp, PeerFuture, PeerOverload};
pub use builder::{Peer, PeerAcceptor, DEFAULT_MAX_INBOUND};
pub use classify::{Classify, Kind};
