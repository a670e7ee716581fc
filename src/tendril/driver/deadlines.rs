//! The connection's deadlines (idle, the oldest call's, the write stall, the read
//! rate), served by its one [`Timer`](super::timer::Timer). Deadline arithmetic
//! saturates: a `Duration::MAX` setting means "never".

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::state::{App, Driver, Frame, Stop};
use crate::error::Error;
use crate::tendril::io::FrameIo;
use crate::tendril::{CallTimeout, CloseReason, ReadTooSlow, ReplyOrder, WriteStalled};

/// `start + after`, or `None` (never) past what an `Instant` can hold.
#[inline]
fn after(start: Instant, after: Duration) -> Option<Instant> {
    start.checked_add(after)
}

impl<S: App<In, Out>, In: Frame, Out: Frame, T: FrameIo<In, Out>> Driver<S, In, Out, T> {
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
                if after(since, rate.window).is_some_and(|due| due <= now) {
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
                } else if after(since, timeout).is_some_and(|due| due <= now) {
                    let err = Error::timeout(WriteStalled { after: timeout });
                    // Nothing more can be written: close without flushing.
                    return Poll::Ready(Err(Stop::now(CloseReason::error(err))));
                }
            }
            if let Some(idle) = self.config.idle_timeout {
                let due = after(self.last_activity, idle);
                if self.calls.is_empty() && due.is_some_and(|due| due <= now) {
                    return Poll::Ready(Err(Stop::flushing(CloseReason::Idle)));
                }
            }
            if let Some(timeout) = self.config.call_timeout {
                match self.calls.oldest_start() {
                    Some(start) if after(start, timeout).is_some_and(|due| due <= now) => {
                        match self.config.reply_order {
                            ReplyOrder::Request => {
                                return Poll::Ready(Err(Stop::error(Error::timeout(
                                    CallTimeout { after: timeout },
                                ))));
                            }
                            _ => {
                                let cutoff = now.checked_sub(timeout).unwrap_or(start);
                                let dropped = self.calls.drop_started_before(cutoff);
                                self.release_held();
                                tracing::debug!(?timeout, dropped, "calls timed out: dropped");
                                self.totals.call_timeouts += dropped;
                                // Commands their calls issued may apply now.
                                return Poll::Ready(Ok(()));
                            }
                        }
                    }
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
            .and_then(|timeout| after(self.stall?.1, timeout));
        let partial = self
            .config
            .read_rate
            .and_then(|rate| after(self.partial?.1, rate.window));
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
            .and_then(|idle| after(self.last_activity, idle));
        let call = self
            .config
            .call_timeout
            .and_then(|timeout| after(self.calls.oldest_start()?, timeout));
        match (idle, call) {
            (Some(idle), Some(call)) => Some(idle.min(call)),
            (idle, call) => idle.or(call),
        }
    }
}
