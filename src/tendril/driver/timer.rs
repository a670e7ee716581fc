//! The connection's one timer, re-armed lazily.
//!
//! Every deadline of a connection (the idle timeout, the oldest call's timeout) is
//! served by one `Sleep`, created on first need. It is set to a deadline no later
//! than the earliest one that matters; when it fires, the driver looks at the real
//! deadlines and either acts or sets it again. Frames that come and go only move the
//! deadlines later, so they never touch the timer: with a 30 s call timeout and calls
//! that finish at once, nothing is registered at all; with calls that stay pending,
//! the timer is reset about once per timeout, not once per frame.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

#[derive(Default)]
pub(super) struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The sleep is set to a deadline that matters (its own deadline).
    armed: bool,
}

impl Timer {
    /// Makes sure the timer fires no later than `deadline`.
    pub(super) fn arm_by(&mut self, deadline: Instant) {
        let set = self.sleep.as_ref().map(|sleep| sleep.deadline());
        if self.armed && set.is_some_and(|set| set <= deadline) {
            return;
        }
        self.armed = true;
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }

    /// Ready once the armed deadline passed (the timer is then disarmed).
    pub(super) fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (true, Some(sleep)) = (self.armed, self.sleep.as_mut()) else {
            return Poll::Pending;
        };
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed = false;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// True while armed.
    pub(super) fn is_armed(&self) -> bool {
        self.armed
    }
}
