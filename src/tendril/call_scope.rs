//! Which call a handle command belongs to.
//!
//! The rule "the frames a call returns are written before the control commands issued
//! during that call take effect" needs to know, for a `close()` or a `wrap()`, whether
//! it came from a call of the same connection, and which one. The driver polls its
//! application's calls on its own task, so while it runs `call` or polls a call's
//! future it marks this thread with (connection id, call number); a handle of that
//! connection issuing a command on this thread stamps the command with the call
//! number. Commands from anywhere else (another task, another connection, a
//! middleware such as `tower::buffer::Buffer` that runs the service on its own task)
//! carry no stamp and apply in the order they arrive.
//!
//! Two thread-local writes per poll; nothing is shared between threads.

use std::cell::Cell;

thread_local! {
    /// (connection id, call number) of the call being polled on this thread; id 0 is
    /// none (connection ids start at 1).
    static CURRENT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Marks this thread as running call `call` of connection `connection` until dropped.
pub(crate) struct Scope {
    previous: (u64, u64),
}

impl Scope {
    #[inline]
    pub(crate) fn enter(connection: u64, call: u64) -> Scope {
        Scope {
            previous: CURRENT.replace((connection, call)),
        }
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        CURRENT.set(self.previous);
    }
}

/// The call of `connection` running on this thread, if a command is being issued from
/// one.
#[inline]
pub(crate) fn current_call(connection: u64) -> Option<u64> {
    let (id, call) = CURRENT.get();
    (id == connection && id != 0).then_some(call)
}

#[cfg(test)]
mod tests {
    use super::{current_call, Scope};

    #[test]
    fn a_scope_stamps_only_its_own_connection_and_ends_when_dropped() {
        assert_eq!(current_call(7), None);
        {
            let _scope = Scope::enter(7, 42);
            assert_eq!(current_call(7), Some(42));
            assert_eq!(current_call(8), None);
            {
                let _inner = Scope::enter(8, 1);
                assert_eq!(current_call(8), Some(1));
                assert_eq!(current_call(7), None);
            }
            assert_eq!(current_call(7), Some(42));
        }
        assert_eq!(current_call(7), None);
    }
}
