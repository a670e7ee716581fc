//! The connection: [`Tendril`], its handle methods, how it closed, and the driver
//! task that owns its socket.

mod addr;
mod close;
mod command;
mod config;
pub(crate) mod driver;
mod handle;
mod in_flight;
pub(crate) mod io;

pub use addr::Addr;
pub use close::CloseReason;
pub(crate) use command::Command;
pub use config::ConnectionConfig;
pub use handle::{ConnectionInfo, Tendril, TrySendError};
pub(crate) use handle::{Control, Shared};
