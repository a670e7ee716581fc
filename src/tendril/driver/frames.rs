//! New frames into calls, and finished calls into replies: the driver's frame path.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::{Context, Poll};

use futures_util::FutureExt;

use super::state::{panic_error, App, Driver, Frame, Stop};
use crate::error::Error;
use crate::tendril::call_scope::Scope;
use crate::tendril::command::Command;
use crate::tendril::io::FrameIo;

/// What a graceful shutdown still reads of a connection's input, beyond what was
/// already read when it began (whatever is readable at once, up to this): the frames
/// the peer had sent are answered, a peer that keeps sending does not keep it open.
const DRAIN_READ_LIMIT: u64 = 1 << 20;

impl<S: App<In, Out>, In: Frame, Out: Frame, T: FrameIo<In, Out>> Driver<S, In, Out, T> {
    /// True if the first command waits for a reply (nothing more is read meanwhile:
    /// a close or a wrap must see the input as the call left it).
    fn waiting_command(&self) -> bool {
        self.commands
            .front()
            .and_then(Command::waits_for)
            .is_some_and(|call| self.calls.is_outstanding(call))
    }

    /// Decodes frames and calls the application with them while it is ready.
    pub(super) fn poll_read(&mut self, cx: &mut Context<'_>) -> Result<bool, Stop> {
        let mut progress = false;
        loop {
            if self.io.write_full() || self.calls.len() >= self.config.max_in_flight.max(1) {
                break;
            }
            let frame = match self.held.take() {
                Some(frame) => frame,
                None => {
                    if self.draining {
                        // Answer what had arrived: read on while input is there at
                        // once, up to a bound past what was read when the drain began.
                        if self.drain_mark == u64::MAX {
                            self.drain_mark = self.io.read_ever();
                        }
                        let read = self.io.read_ever().wrapping_sub(self.drain_mark);
                        if read >= DRAIN_READ_LIMIT && self.io.buffered() == 0 {
                            self.drain_read_done = true;
                        }
                    }
                    if self.read_closed || self.drain_read_done || self.waiting_command() {
                        break;
                    }
                    match self.io.poll_frame(cx) {
                        Poll::Ready(Ok(Some(frame))) => {
                            self.totals.frames_in += 1;
                            progress = true;
                            frame
                        }
                        Poll::Ready(Ok(None)) => {
                            self.read_closed = true;
                            return Ok(true);
                        }
                        Poll::Ready(Err(err)) => return Err(Stop::error(err)),
                        Poll::Pending => {
                            self.read_pending = true;
                            // Draining: what had arrived is read; wait for no more.
                            self.drain_read_done = self.draining;
                            break;
                        }
                    }
                }
            };
            // Readiness only for a frame in hand; kept while the application is busy.
            match catch_unwind(AssertUnwindSafe(|| self.app.poll_ready(cx))) {
                Ok(Poll::Ready(Ok(()))) => {}
                Ok(Poll::Ready(Err(err))) => return Err(Stop::error(Error::application(err))),
                Ok(Poll::Pending) => {
                    self.held = Some(frame);
                    break;
                }
                Err(panic) => return Err(Stop::error(panic_error(panic))),
            }
            self.call(frame, cx)?;
            progress = true;
            if self.wrap.is_some() {
                break;
            }
        }
        Ok(progress)
    }

    /// Calls the application with `frame`, and answers at once if the call is done.
    #[inline(always)]
    fn call(&mut self, frame: In, cx: &mut Context<'_>) -> Result<(), Stop> {
        let call = self.next_call;
        self.next_call += 1;
        let started = {
            // Commands issued by `call` and the first poll belong to this call.
            let _scope = Scope::enter(self.shared.info.id(), call);
            let app = &mut self.app;
            self.calls
                .start(
                    || AssertUnwindSafe(app.call(frame)).catch_unwind(),
                    call,
                    cx,
                )
                .map_err(|panic| Stop::error(panic_error(panic)))?
        };
        // A large frame's input stays counted while its call runs.
        let held = self.io.take_held();
        if held != 0 {
            if started.is_some() {
                self.io.release_held(held);
            } else {
                self.calls.hold_last(held);
            }
        }
        if let Some((call, outcome)) = started {
            self.reply(call, outcome)?;
        }
        Ok(())
    }

    /// Polls the pending calls and answers those that may be answered.
    pub(super) fn poll_calls(&mut self, cx: &mut Context<'_>) -> Result<bool, Stop> {
        self.calls.poll(self.shared.info.id(), cx);
        let mut progress = false;
        while let Some((call, outcome)) = self.calls.next() {
            self.release_held();
            self.reply(call, outcome)?;
            progress = true;
            if self.wrap.is_some() {
                break;
            }
        }
        Ok(progress)
    }

    /// Gives the held input of the calls that ended back to the memory budget.
    #[inline(always)]
    pub(super) fn release_held(&mut self) {
        let freed = self.calls.take_freed();
        if freed > 0 {
            self.io.release_held(freed);
        }
    }
}
