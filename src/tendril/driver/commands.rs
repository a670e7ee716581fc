//! Handle commands and replies, in the order the rule gives: the frames a call returns
//! are written before the control commands that call issued take effect; everything
//! else in the order issued.

use std::sync::Arc;

use super::state::{panic_error, App, Driver, Frame, Outcome, Stop};
use super::wrap_state::WrapState;
use crate::error::Error;
use crate::tendril::command::Command;
use crate::tendril::io::FrameIo;
use crate::tendril::{CloseReason, IntoFrames};

impl<S: App<In, Out>, In: Frame, Out: Frame, T: FrameIo<In, Out>> Driver<S, In, Out, T> {
    /// Applies the commands taken from the queue, in order, up to one that waits for
    /// the reply of a call not yet answered (`replying` is being answered right now,
    /// so its commands wait too). True if any was applied.
    pub(super) fn apply_commands(&mut self, replying: Option<u64>) -> Result<bool, Stop> {
        self.shared.queue.take(&mut self.commands);
        let mut applied = false;
        let outcome = loop {
            let waits = match self.commands.front() {
                None => break Ok(()),
                Some(command) => command.waits_for(),
            };
            if let Some(call) = waits {
                if replying == Some(call) || self.calls.is_outstanding(call) {
                    break Ok(());
                }
            }
            let Some(command) = self.commands.pop_front() else {
                break Ok(());
            };
            applied = true;
            if command.is_counted() {
                self.applied += 1;
            }
            match command {
                Command::Frame(frame) => {
                    if let Err(stop) = self.send(frame) {
                        break Err(stop);
                    }
                }
                Command::SetRecv(framer) => {
                    tracing::trace!("receive framer switched");
                    self.io.framers().set_recv_framer(*framer);
                    self.io.recv_framer_changed();
                    // What is buffered may hold frames for the new framer.
                    self.read_pending = false;
                }
                Command::SetSend { framer, .. } => {
                    tracing::trace!("send framer switched");
                    self.io.framers().set_send_framer(*framer);
                }
                Command::Pipelining {
                    max_in_flight,
                    order,
                } => {
                    let config = Arc::make_mut(&mut self.config);
                    config.max_in_flight = max_in_flight.max(1);
                    config.reply_order = order;
                    self.calls.set_order(order);
                }
                Command::Close { error, .. } => {
                    let reason = error.map_or(CloseReason::Local, CloseReason::error);
                    break Err(Stop::flushing(reason));
                }
                Command::Wrap { wrapper, .. } => {
                    // Everything after it waits for the wrap.
                    self.wrap = Some(Box::new(WrapState::Flushing(wrapper)));
                    break Ok(());
                }
            }
        };
        let count = std::mem::take(&mut self.applied);
        self.shared.queue.applied(count);
        outcome.map(|()| applied)
    }

    /// True if commands wait to be applied.
    #[inline]
    fn has_commands(&self) -> bool {
        !self.commands.is_empty() || self.shared.queue.has_commands()
    }

    /// Writes the reply of call `call`: after the frames pushed before it, before the
    /// control commands the call issued.
    #[inline(always)]
    pub(super) fn reply(&mut self, call: u64, outcome: Outcome<S, In>) -> Result<(), Stop> {
        let response = match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(Stop::error(Error::application(err))),
            Err(panic) => return Err(Stop::error(panic_error(panic))),
        };
        // Commands issued during the call are queued by now: those before its first
        // control go out first, its controls after the reply.
        let commands = self.has_commands();
        if commands {
            self.apply_commands(Some(call))?;
        }
        let reply = response.into_reply();
        match reply.into_single() {
            Ok(frame) => self.send(frame)?,
            Err(reply) => reply.try_for_each(|frame| self.send(frame))?,
        }
        if commands {
            self.apply_commands(None)?;
        }
        Ok(())
    }

    #[inline(always)]
    pub(super) fn send(&mut self, frame: Out) -> Result<(), Stop> {
        self.totals.frames_out += 1;
        self.io.encode(frame).map_err(Stop::error)
    }
}
