//! [`Control`]: a connection as its manager controls it, whatever its frame types.

use std::any::Any;
use std::sync::Arc;

use super::info::ConnectionInfo;
use super::traffic::Totals;

/// The manager's view of a connection of any frame type: tell it to shut down or to
/// make room (shedding, in every bound's one vocabulary), read its traffic.
pub(crate) trait Control: Send + Sync {
    /// The manager shuts down: answer what is in flight first (`graceful`), or close
    /// now.
    fn shutdown(&self, graceful: bool);

    /// Shed for a newcomer while idle (a full table): close now, without lingering.
    fn shed_idle(&self);

    /// Shed for the memory budget: close now, with the budget's error.
    fn shed_memory(&self);

    fn traffic(&self) -> Totals;

    /// Calls in flight, a frame held or output pending: not idle, whatever its traffic.
    fn busy(&self) -> bool;

    /// Its id and addresses.
    fn info(&self) -> &ConnectionInfo;

    /// Its `Tendril`, to be downcast to its frame types.
    fn tendril(self: Arc<Self>) -> Box<dyn Any>;
}

/// A control that does nothing, for tables in tests.
#[cfg(test)]
pub(crate) struct NoControl(pub(crate) ConnectionInfo);

#[cfg(test)]
impl Control for NoControl {
    fn shutdown(&self, _graceful: bool) {}
    fn shed_idle(&self) {}
    fn shed_memory(&self) {}
    fn traffic(&self) -> Totals {
        Totals::default()
    }
    fn busy(&self) -> bool {
        false
    }
    fn info(&self) -> &ConnectionInfo {
        &self.0
    }
    fn tendril(self: Arc<Self>) -> Box<dyn Any> {
        Box::new(self)
    }
}
