//! The connection: [`Tendril`], its handle methods, how it closed, and the driver
//! task that owns its transport.

mod addr;
pub(crate) mod call_scope;
mod close;
mod command;
mod config;
pub(crate) mod driver;
mod guards;
mod handle;
mod info;
pub(crate) mod io;
pub(crate) mod queue;
pub(crate) mod traffic;

pub use addr::Addr;
pub use close::CloseReason;
pub(crate) use command::Command;
pub use config::{ConnectionConfig, ReadRate, ReplyOrder};
pub use guards::{CallTimeout, MemoryBudget, ReadTooSlow, WriteStalled};
#[cfg(test)]
pub(crate) use handle::NoControl;
pub(crate) use handle::{Control, Shared};
pub use handle::{Tendril, TrySendError};
pub use info::ConnectionInfo;
