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
use tower::Service;

use super::engine::{Driver, Stop};
use crate::app::IntoFrames;
use crate::error::{BoxError, Error};
use crate::tendril::io::FrameIo;
use crate::tendril::{CallTimeout, CloseReason, ReadTooSlow, ReplyOrder, WriteStalled};

#[derive(Default)]
pub(super) struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The deadline the sleep is set to, while it is armed.
    armed: Option<Instant>,
}

impl Timer {
    /// Makes sure the timer fires no later than `deadline`.
    pub(super) fn arm_by(&mut self, deadline: Instant) {
        if self.armed.is_some_and(|armed| armed <= deadline) {
            return;
        }
        self.armed = Some(deadline);
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }

    /// Ready once the armed deadline passed (the timer is then disarmed).
    pub(super) fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (Some(_), Some(sleep)) = (self.armed, self.sleep.as_mut()) else {
            return Poll::Pending;
        };
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// True while armed.
    pub(super) fn is_armed(&self) -> bool {
        self.armed.is_some()
    }
}

impl<S, In, Out, T> Driver<S, In, Out, T>
where
    S: Service<In>,
    S::Response: IntoFrames<Out>,
    S::Error: Into<BoxError>,
    In: Send + 'static,
    Out: Send + 'static,
    T: FrameIo<In, Out>,
{
    /// Arms the timer for the earliest deadline and acts on those that passed.
    pub(super) fn poll_deadlines(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Stop>> {
        let now = Instant::now();
        if std::mem::take(&mut self.active) {
            self.last_activity = now;
        }
        if self.config.call_timeout.is_some() && !self.calls.is_empty() {
            self.calls.mark_started(now);
        }
        loop {
            if let Some(deadline) = self.next_deadline() {
                self.timer.arm_by(deadline);
            }
            if !self.timer.is_armed() || self.timer.poll_fired(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: act on what is really due, then set it again.
            let now = Instant::now();
            if let (Some(rate), Some((mark, since))) = (self.config.read_rate, self.partial) {
                if since + rate.window <= now {
                    let received = self.io.read_ever() - mark;
                    if received < rate.min_bytes {
                        let err = Error::timeout(ReadTooSlow {
                            received,
                            min_bytes: rate.min_bytes,
                            window: rate.window,
                        });
                        return Poll::Ready(Err(Stop::now(CloseReason::error(err))));
                    }
                    // Enough came: the next window starts.
                    self.partial = Some((self.io.read_ever(), now));
                }
            }
            if let (Some(timeout), Some((mark, since))) =
                (self.config.write_stall_timeout, self.stall)
            {
                let written = self.io.written_ever();
                if written != mark {
                    // Progress since: the count starts again.
                    self.stall = Some((written, now));
                } else if since + timeout <= now {
                    let err = Error::timeout(WriteStalled { after: timeout });
                    // Nothing more can be written: close without flushing.
                    return Poll::Ready(Err(Stop::now(CloseReason::error(err))));
                }
            }
            if let Some(idle) = self.config.idle_timeout {
                if self.calls.is_empty() && self.last_activity + idle <= now {
                    return Poll::Ready(Err(Stop::flushing(CloseReason::Idle)));
                }
            }
            if let Some(timeout) = self.config.call_timeout {
                match self.calls.oldest_start() {
                    Some(start) if start + timeout <= now => match self.config.reply_order {
                        ReplyOrder::Request => {
                            return Poll::Ready(Err(Stop::error(Error::timeout(CallTimeout {
                                after: timeout,
                            }))));
                        }
                        _ => {
                            let dropped = self.calls.drop_started_before(now - timeout);
                            tracing::debug!(?timeout, dropped, "calls timed out: dropped");
                            self.totals.call_timeouts += dropped;
                            // Commands their calls issued may apply now.
                            return Poll::Ready(Ok(()));
                        }
                    },
                    _ => {}
                }
            }
        }
    }

    /// The earliest of the idle deadline, the oldest call's and the write stall's.
    fn next_deadline(&self) -> Option<Instant> {
        let stall = self
            .config
            .write_stall_timeout
            .and_then(|timeout| Some(self.stall?.1 + timeout));
        let partial = self
            .config
            .read_rate
            .and_then(|rate| Some(self.partial?.1 + rate.window));
        [self.idle_or_call_deadline(), stall, partial]
            .into_iter()
            .flatten()
            .min()
    }

    /// The earliest of the idle deadline and the oldest call's.
    fn idle_or_call_deadline(&self) -> Option<Instant> {
        // A connection with calls in flight is not idle.
        let idle = self
            .config
            .idle_timeout
            .filter(|_| self.calls.is_empty())
            .map(|idle| self.last_activity + idle);
        let call = self
            .config
            .call_timeout
            .and_then(|timeout| Some(self.calls.oldest_start()? + timeout));
        match (idle, call) {
            (Some(idle), Some(call)) => Some(idle.min(call)),
            (idle, call) => idle.or(call),
        }
    }
}
