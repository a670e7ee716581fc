//! The connection engine: one [`Engine`] runs and tracks the connections of every
//! transport, built-in or plug-in.
//!
//! - `state`: the engine itself, its endpoint and running state, starting, lookups,
//!   stats and shutdown;
//! - `bounds`: what it bounds across its connections ([`Bounds`]);
//! - `table`: the connections it holds, by (local, remote), and who is shed when it
//!   is full;
//! - `sources`: connections by source, the per-source limits ([`SourceLimits`]);
//! - `spawn`: running one connection ([`Engine::serve`], [`Engine::serve_datagrams`]);
//! - `accept`: the accept loop of a [`Listener`] ([`Engine::listen`]);
//! - `connect`: a dialled stream ([`Engine::connect`]);
//! - `stats`: its counters ([`Stats`]).

mod accept;
mod bounds;
mod connect;
mod entry;
mod sources;
mod spawn;
mod state;
mod stats;
mod table;

pub use accept::Listener;
pub use bounds::Bounds;
pub use sources::{SourceLimits, SourceRate};
pub use spawn::Accepted;
pub use state::Engine;
pub(crate) use stats::write_fields;
pub use stats::Stats;
