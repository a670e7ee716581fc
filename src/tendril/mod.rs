//! The connection: [`Tendril`] (its handle), who it is, how it closed, the reply
//! conversion, the queue between its handles and its driver, and the driver task that
//! owns its frame transport.

mod addr;
pub(crate) mod call_scope;
mod close;
pub(crate) mod command;
mod config;
pub(crate) mod control;
pub(crate) mod driver;
mod guards;
mod handle;
mod info;
pub(crate) mod io;
pub(crate) mod queue;
mod reply;
pub(crate) mod shared;
pub(crate) mod traffic;

pub use addr::{Addr, StreamAddr};
pub use close::CloseReason;
pub use config::{ConnectionConfig, ReadRate, ReplyOrder};
pub use guards::{CallTimeout, MemoryBudget, ReadTooSlow, WriteStalled};
pub use handle::{Tendril, TrySendError};
pub use info::ConnectionInfo;
pub(crate) use info::StreamFacts;
pub use io::Datagrams;
pub use reply::{IntoFrames, Reply};
