//! The driver's state and its pass: signals, the live wrap, completed calls, commands,
//! new frames, then sleep.

use std::any::Any;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::CatchUnwind;
use tokio::time::Instant;
use tower::Service;

use super::calls::Calls;
use super::closing::{self, Lingering};
use super::timer::Timer;
use super::wrap_state::WrapState;
use crate::error::{BoxError, Error};
use crate::tendril::command::Command;
use crate::tendril::io::FrameIo;
use crate::tendril::queue::Signal;
use crate::tendril::shared::Shared;
use crate::tendril::traffic::Totals;
use crate::tendril::{CloseReason, ConnectionConfig, IntoFrames};

/// What the driver needs of an application: a name for the bounds.
pub(crate) trait App<In, Out>:
    Service<In, Response: IntoFrames<Out>, Error: Into<BoxError>>
{
}

impl<S, In, Out> App<In, Out> for S where
    S: Service<In, Response: IntoFrames<Out>, Error: Into<BoxError>>
{
}

/// What the driver needs of a frame type: it moves between tasks.
pub(crate) trait Frame: Send + 'static {}

impl<F: Send + 'static> Frame for F {}

/// A call's future, with panics caught.
pub(super) type Call<F> = CatchUnwind<AssertUnwindSafe<F>>;

/// What a call's future gives: the service's result, or the panic.
pub(super) type Outcome<S, In> =
    Result<Result<<S as Service<In>>::Response, <S as Service<In>>::Error>, Box<dyn Any + Send>>;

/// Why the frame loop stopped, and whether what is queued should still be flushed.
pub(crate) struct Stop {
    pub(super) reason: CloseReason,
    pub(super) flush: bool,
    /// After the flush, wait for the peer's end (see [`Lingering`]).
    pub(super) linger: bool,
}

impl Stop {
    pub(super) fn flushing(reason: CloseReason) -> Self {
        Stop {
            reason,
            flush: true,
            linger: true,
        }
    }

    pub(super) fn now(reason: CloseReason) -> Self {
        Stop {
            reason,
            flush: false,
            linger: false,
        }
    }

    pub(super) fn error(err: Error) -> Self {
        let flush = !err.is_io();
        Stop {
            reason: CloseReason::error(err),
            flush,
            linger: flush,
        }
    }
}

/// How a connection's frame loop ended.
pub(crate) struct Closed<T, In, Out> {
    pub(crate) reason: CloseReason,
    /// The transport, for a lingering close after a flush.
    pub(crate) lingering: Option<Lingering<T, In, Out>>,
}

pub(crate) struct Driver<S, In, Out, T>
where
    S: Service<In>,
{
    pub(super) io: T,
    pub(super) app: S,
    pub(super) shared: Arc<Shared<In, Out>>,
    /// Commands taken from the queue and not yet applied, in order; the first may wait
    /// for the reply of the call that issued it.
    pub(super) commands: VecDeque<Command<In, Out>>,
    /// Counted commands applied and not yet reported to the queue.
    pub(super) applied: usize,
    /// A decoded frame waiting for the application's readiness.
    pub(super) held: Option<In>,
    pub(super) calls: Calls<Call<S::Future>>,
    pub(super) next_call: u64,
    /// A live wrap in progress: nothing else happens until it is done (boxed: rare,
    /// and every byte here is held by every idle connection).
    pub(super) wrap: Option<Box<WrapState>>,
    /// The manager's, shared (copied if the connection changes its own).
    pub(super) config: Arc<ConnectionConfig>,
    pub(super) read_closed: bool,
    /// The transport said it has no input for now, in this pass (its waker is set).
    pub(super) read_pending: bool,
    pub(super) draining: bool,
    /// Draining, and the input that had arrived is read: nothing more will be.
    pub(super) drain_read_done: bool,
    /// Bytes read ever when draining began (`u64::MAX` before): what is readable at
    /// once is read up to a bound past it, not for as long as a peer sends.
    pub(super) drain_mark: u64,
    /// Draining to be shed (a quiet UDP peer, for a newcomer), not for a graceful
    /// shutdown: the close reason once drained.
    drain_shed: bool,
    pub(super) timer: Timer,
    /// Frames came or went since the idle deadline was last moved.
    pub(super) active: bool,
    pub(super) last_activity: Instant,
    /// Output pending: (bytes written ever when last seen moving, since when).
    pub(super) stall: Option<(u64, Instant)>,
    /// A frame being assembled: (bytes read ever when its window began, when).
    pub(super) partial: Option<(u64, Instant)>,
    /// The last flush left output pending.
    output_pending: bool,
    /// Last published: busy (calls, a held frame or output pending).
    published_busy: bool,
    /// Traffic so far (published to the connection's counts when it moved).
    pub(super) totals: Totals,
}

impl<S: App<In, Out>, In: Frame, Out: Frame, T: FrameIo<In, Out>> Driver<S, In, Out, T> {
    pub(crate) fn new(
        io: T,
        app: S,
        shared: Arc<Shared<In, Out>>,
        config: Arc<ConnectionConfig>,
    ) -> Self {
        Driver {
            io,
            app,
            shared,
            commands: VecDeque::new(),
            applied: 0,
            held: None,
            calls: Calls::new(config.reply_order),
            next_call: 0,
            wrap: None,
            config,
            read_closed: false,
            read_pending: false,
            draining: false,
            drain_read_done: false,
            drain_mark: u64::MAX,
            drain_shed: false,
            timer: Timer::default(),
            active: false,
            last_activity: Instant::now(),
            stall: None,
            partial: None,
            output_pending: false,
            published_busy: false,
            totals: Totals::default(),
        }
    }

    /// Runs the frame loop until the connection should close; then
    /// [`close`](Self::close) with what it returned. Holds nothing but the driver.
    pub(crate) fn frames(&mut self) -> impl Future<Output = Stop> + '_ {
        poll_fn(|cx| {
            let result = self.poll_frames(cx);
            self.publish_counts();
            result
        })
    }

    /// Closes the connection after its frame loop stopped and returns how it closed,
    /// with its transport if it should linger (see [`Lingering`]). Only the transport
    /// goes on: the application, its calls and the commands left are dropped now. The
    /// closing steps are boxed, so they take no room in a live connection's task.
    pub(crate) fn close(
        mut self,
        mut stop: Stop,
    ) -> Pin<Box<dyn Future<Output = Closed<T, In, Out>> + Send>> {
        self.shed_reply(&mut stop);
        let Driver {
            mut io,
            shared,
            config,
            read_closed,
            totals,
            ..
        } = self;
        if stop.reason.as_error().is_some_and(|err| io.abort(err)) {
            stop.flush = false;
        }
        Box::pin(async move {
            let mut lingering = None;
            if stop.flush {
                let flushed = closing::flush(&mut io, &shared, config.linger, totals).await;
                if flushed && stop.linger && !read_closed {
                    lingering = Some(Lingering::new(io, config.linger, shared));
                }
            }
            Closed {
                reason: stop.reason,
                lingering,
            }
        })
    }

    /// Shed for the memory budget: the input goes at once, and the application's shed
    /// reply, if it set one and nothing else waits to be written, goes out before the
    /// close.
    fn shed_reply(&mut self, stop: &mut Stop) {
        let shed = stop
            .reason
            .as_error()
            .is_some_and(|err| err.cause::<crate::tendril::MemoryBudget>().is_some());
        if !shed {
            return;
        }
        self.io.discard_input();
        let Some(reply) = self.shared.queue.take_shed_reply() else {
            return;
        };
        if self.io.write_idle() && self.io.encode(reply).is_ok() {
            // Lingering (bounded: late input is read and dropped, at most 1 MiB for
            // `linger`), so that a peer still sending reads the reply, not a reset.
            stop.flush = true;
            stop.linger = true;
        }
    }

    /// Stores the traffic totals for the manager's stats, if they moved.
    pub(super) fn publish_counts(&mut self) {
        (self.totals.bytes_in, self.totals.bytes_out) = self.io.counts();
        // Only the driver writes them: what they hold is what it last published.
        if self.shared.traffic.load() != self.totals {
            self.shared.traffic.store(&self.totals);
        }
        // For a full table choosing whom to shed: never a busy connection.
        let busy = !self.calls.is_empty()
            || self.held.is_some()
            || self.output_pending
            || self.wrap.is_some();
        if busy != self.published_busy {
            self.shared.traffic.set_busy(busy);
            self.published_busy = busy;
        }
    }

    fn poll_frames(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        // A wake-up: the transport may have input again.
        self.read_pending = false;
        loop {
            match self.shared.queue.signalled() {
                Signal::Abort => return Poll::Ready(Stop::now(CloseReason::Local)),
                Signal::ShedMemory => {
                    let err = self.io.shed_error();
                    return Poll::Ready(Stop::now(CloseReason::error(err)));
                }
                Signal::ShedIdle => {
                    let info = &self.shared.info;
                    tracing::info!(
                        remote = %info.remote(),
                        id = info.id(),
                        "connection shed for a newcomer: the table was full"
                    );
                    // Idle (nothing in flight or pending when chosen): nothing is lost
                    // by not waiting for the peer's end.
                    return Poll::Ready(Stop {
                        reason: CloseReason::Shed,
                        flush: true,
                        linger: false,
                    });
                }
                Signal::Graceful => self.draining = true,
                Signal::ShedWhenDone if !self.draining => {
                    self.draining = true;
                    self.drain_shed = true;
                }
                Signal::ShedWhenDone | Signal::None => {}
            }
            if self.wrap.is_some() {
                match self.poll_wrap(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(stop)) => return Poll::Ready(stop),
                    Poll::Pending => {
                        // Only a manager's signal may interrupt it.
                        self.shared.queue.register(cx.waker());
                        if self.shared.queue.signalled() >= Signal::ShedIdle {
                            continue;
                        }
                        return Poll::Pending;
                    }
                }
            }
            let mut progress = false;

            // Make room: write out what passed the high-water mark.
            if self.io.write_full() {
                if let Poll::Ready(Err(err)) = self.io.poll_flush(cx) {
                    return Poll::Ready(Stop::error(err));
                }
            }
            let room = !self.io.write_full();

            // Calls that finished since the last pass.
            if !self.calls.is_empty() {
                match self.poll_calls(cx) {
                    Ok(did) => progress |= did,
                    Err(stop) => return Poll::Ready(stop),
                }
                if self.wrap.is_some() {
                    continue;
                }
            }

            // Commands from the handles.
            if room && (!self.commands.is_empty() || self.shared.queue.has_commands()) {
                match self.apply_commands(None) {
                    Ok(did) => progress |= did,
                    Err(stop) => return Poll::Ready(stop),
                }
                if self.wrap.is_some() {
                    continue;
                }
            }

            // New frames.
            if room && !self.read_pending {
                match self.poll_read(cx) {
                    Ok(did) => progress |= did,
                    Err(stop) => return Poll::Ready(stop),
                }
                if self.wrap.is_some() {
                    continue;
                }
            }

            let done = self.calls.is_empty()
                && self.held.is_none()
                && self.commands.is_empty()
                && !(room && self.shared.queue.has_commands());
            if done && self.read_closed {
                // A transport that sheds a peer tells it before it ends its input.
                let reason = if self.shared.queue.signalled() == Signal::ShedWhenDone {
                    CloseReason::Shed
                } else if let Some(err) = self.io.take_ragged_end() {
                    // Answered and flushed as at an orderly end; said as it was.
                    CloseReason::error(err)
                } else {
                    CloseReason::PeerClosed
                };
                return Poll::Ready(Stop::flushing(reason));
            }
            // Draining answers what the peer had sent already (read without waiting),
            // then closes.
            if done && self.draining && self.drain_read_done {
                let reason = if self.drain_shed {
                    CloseReason::Shed
                } else {
                    CloseReason::Local
                };
                return Poll::Ready(Stop::flushing(reason));
            }
            if progress {
                self.active = true;
                continue;
            }
            match self.sleep(cx, room) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(stop)) => return Poll::Ready(stop),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Nothing more to do now: flush, give back idle buffers, mind the timer, and
    /// register for commands and signals. `Ready(Ok)` if something came meanwhile.
    fn sleep(&mut self, cx: &mut Context<'_>, room: bool) -> Poll<Result<(), Stop>> {
        match self.io.poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.stall = None;
                self.output_pending = false;
                self.io.release();
                if self.commands.is_empty() && self.commands.capacity() > 0 {
                    // Idle: the room commands took goes back too.
                    self.commands = VecDeque::new();
                }
            }
            Poll::Ready(Err(err)) => return Poll::Ready(Err(Stop::error(err))),
            Poll::Pending => {
                self.output_pending = true;
                // The peer is not taking the output: note when it last did.
                if self.config.write_stall_timeout.is_some() {
                    let written = self.io.written_ever();
                    if self.stall.is_none_or(|(mark, _)| mark != written) {
                        self.stall = Some((written, Instant::now()));
                    }
                }
            }
        }
        // Waiting for the rest of a frame: its window starts now, unless it runs.
        if self.config.read_rate.is_some() {
            if self.read_pending && !self.read_closed && self.io.buffered() > 0 {
                if self.partial.is_none() {
                    self.partial = Some((self.io.read_ever(), Instant::now()));
                }
            } else {
                self.partial = None;
            }
        }
        if self.config.idle_timeout.is_some()
            || self.config.call_timeout.is_some()
            || self.stall.is_some()
            || self.partial.is_some()
        {
            if let Poll::Ready(result) = self.poll_deadlines(cx) {
                return Poll::Ready(result);
            }
        }
        self.shared.queue.register(cx.waker());
        // Something may have come between the checks above and the registration.
        let signal = self.shared.queue.signalled();
        if (room && self.shared.queue.has_commands())
            || signal >= Signal::ShedIdle
            || (matches!(signal, Signal::Graceful | Signal::ShedWhenDone) && !self.draining)
        {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

/// The error for a caught panic, with its message.
pub(crate) fn panic_error(panic: Box<dyn Any + Send>) -> Error {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "application panicked".to_owned());
    Error::panic(message)
}
