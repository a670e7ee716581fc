//! The driver: one task per connection that owns its framed I/O and its application.
//!
//! It decodes with the receive framer, calls the application (honouring `poll_ready`:
//! while the application is not ready it stops reading, and TCP backpressure reaches
//! the peer), writes the replies with the send framer in request order, applies handle
//! commands in the order issued, and flushes only when no more input is ready, so
//! writes are batched. Nothing else touches the socket; nothing on the frame path
//! takes a lock.

use std::any::Any;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::future::CatchUnwind;
use futures_util::FutureExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, Sleep};
use tower::Service;

use super::in_flight::InFlight;
use super::io::FrameIo;
use super::{CloseReason, Command, ConnectionConfig, Shared};
use crate::app::IntoFrames;
use crate::error::{BoxError, Error};
use crate::manager::stats::Counters;

/// Commands applied per pass before other work gets a turn.
const COMMAND_BATCH: usize = 64;

mod closing;
mod live_wrap;

use live_wrap::WrapState;

type Call<F> = CatchUnwind<AssertUnwindSafe<F>>;

/// Why the frame loop stopped, and whether what is queued should still be flushed.
struct Stop {
    reason: CloseReason,
    flush: bool,
}

impl Stop {
    fn flushing(reason: CloseReason) -> Self {
        Stop {
            reason,
            flush: true,
        }
    }

    fn now(reason: CloseReason) -> Self {
        Stop {
            reason,
            flush: false,
        }
    }

    fn error(err: Error) -> Self {
        let flush = !err.is_io();
        Stop {
            reason: CloseReason::error(err),
            flush,
        }
    }
}

pub(crate) struct Driver<S, In, Out, T>
where
    S: Service<In>,
{
    framed: T,
    app: S,
    shared: Arc<Shared<In, Out>>,
    commands: UnboundedReceiver<Command<In, Out>>,
    /// Commands taken while registering for wake-ups or while wrapping, applied next.
    deferred: VecDeque<Command<In, Out>>,
    /// A live wrap in progress: nothing else happens until it is done.
    wrap: Option<WrapState>,
    in_flight: InFlight<Call<S::Future>>,
    /// Reply frames waiting for room in the write buffer.
    pending: VecDeque<Out>,
    config: ConnectionConfig,
    read_closed: bool,
    draining: bool,
    idle: Option<Pin<Box<Sleep>>>,
    last_activity: Instant,
    counters: Arc<Counters>,
    frames_in: u64,
    frames_out: u64,
    /// Outbound-queue permits to hand back (one per frame command taken).
    released: usize,
}

impl<S, In, Out, T> Driver<S, In, Out, T>
where
    S: Service<In>,
    S::Response: IntoFrames<Out>,
    S::Error: Into<BoxError>,
    In: 'static,
    Out: 'static,
    T: FrameIo<In, Out> + Send + 'static,
{
    pub(crate) fn new(
        framed: T,
        app: S,
        shared: Arc<Shared<In, Out>>,
        commands: UnboundedReceiver<Command<In, Out>>,
        config: ConnectionConfig,
        counters: Arc<Counters>,
    ) -> Self {
        let idle = config
            .idle_timeout
            .map(|timeout| Box::pin(tokio::time::sleep(timeout)));
        Driver {
            framed,
            app,
            shared,
            commands,
            deferred: VecDeque::new(),
            wrap: None,
            in_flight: InFlight::new(config.max_in_flight),
            pending: VecDeque::new(),
            config,
            read_closed: false,
            draining: false,
            idle,
            last_activity: Instant::now(),
            counters,
            frames_in: 0,
            frames_out: 0,
            released: 0,
        }
    }

    /// Runs the connection to its end and returns how it closed.
    pub(crate) async fn run(mut self) -> CloseReason {
        let stop = poll_fn(|cx| {
            let result = self.poll_frames(cx);
            self.publish_counts();
            result
        })
        .await;
        if stop.flush {
            self.flush_and_linger().await;
        }
        stop.reason
    }

    fn publish_counts(&mut self) {
        let (read, written) = self.framed.take_counts();
        let counters = &self.counters;
        if read > 0 {
            counters.bytes_in.fetch_add(read, Ordering::Relaxed);
        }
        if written > 0 {
            counters.bytes_out.fetch_add(written, Ordering::Relaxed);
        }
        if self.frames_in > 0 {
            counters
                .frames_in
                .fetch_add(self.frames_in, Ordering::Relaxed);
            self.frames_in = 0;
        }
        if self.frames_out > 0 {
            counters
                .frames_out
                .fetch_add(self.frames_out, Ordering::Relaxed);
            self.frames_out = 0;
        }
        if self.released > 0 {
            self.shared.permits.add_permits(self.released);
            self.released = 0;
        }
    }

    fn poll_frames(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        loop {
            let mut progress = false;

            // A live wrap holds everything else back until it is done.
            if self.wrap.is_some() {
                match self.poll_wrap(cx) {
                    Poll::Ready(Err(stop)) => return Poll::Ready(stop),
                    Poll::Ready(Ok(())) => {}
                    Poll::Pending => return Poll::Pending,
                }
            }

            // Commands first, so that those issued during a call precede its reply.
            let drained = match self.poll_commands(cx) {
                Poll::Ready(Err(stop)) => return Poll::Ready(stop),
                Poll::Ready(Ok(did)) => {
                    progress |= did;
                    true
                }
                Poll::Pending => false,
            };
            if self.wrap.is_some() {
                continue;
            }

            // Replies of completed calls, in request order.
            if drained {
                match self.poll_replies(cx) {
                    Poll::Ready(Err(stop)) => return Poll::Ready(stop),
                    Poll::Ready(Ok(did)) => progress |= did,
                    Poll::Pending => {}
                }
            }

            // Control commands issued while the last call ran (a framer switch, a
            // close) apply before the next frame is decoded. Pushed frames do not hold
            // reading back.
            let commands_waiting =
                !self.deferred.is_empty() || self.shared.control.load(Ordering::Acquire) > 0;
            if commands_waiting && drained {
                continue;
            }

            // The next frame, when the application may take it.
            if !commands_waiting && self.pending.is_empty() && self.may_read() {
                match self.poll_read(cx) {
                    Poll::Ready(Err(stop)) => return Poll::Ready(stop),
                    Poll::Ready(Ok(did)) => progress |= did,
                    Poll::Pending => {}
                }
            }

            let settled = self.in_flight.is_empty() && self.pending.is_empty() && drained;
            if settled && self.read_closed {
                return Poll::Ready(Stop::flushing(CloseReason::PeerClosed));
            }
            if settled && self.draining {
                return Poll::Ready(Stop::flushing(CloseReason::Local));
            }
            if progress {
                continue;
            }

            // Register for commands before sleeping; one may have just arrived.
            if let Poll::Ready(Some(command)) = self.commands.poll_recv(cx) {
                self.deferred.push_back(command);
                continue;
            }

            // Nothing more is ready: flush what the passes above wrote.
            if let Poll::Ready(Err(err)) = Pin::new(&mut self.framed).poll_flush(cx) {
                return Poll::Ready(Stop::error(err));
            }
            if let Poll::Ready(stop) = self.poll_idle(cx) {
                return Poll::Ready(stop);
            }
            return Poll::Pending;
        }
    }

    fn may_read(&self) -> bool {
        !self.read_closed
            && !self.draining
            && self.in_flight.len() < self.config.max_in_flight.max(1)
    }

    /// Applies queued commands. `Ready(Ok(_))` once the queue is empty (with whether
    /// anything was applied), `Pending` while the write buffer is full or the batch
    /// is used up (then the caller's loop comes back).
    fn poll_commands(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Stop>> {
        let mut applied = false;
        for _ in 0..COMMAND_BATCH {
            match Pin::new(&mut self.framed).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Err(Stop::error(err))),
                Poll::Pending => return Poll::Pending,
            }
            // `try_recv` costs less than `poll_recv` per frame; the waker is
            // registered once, before the driver sleeps (see `poll_frames`).
            let command = match self.deferred.pop_front() {
                Some(command) => command,
                None => match self.commands.try_recv() {
                    Ok(command) => command,
                    Err(_) => return Poll::Ready(Ok(applied)),
                },
            };
            applied = true;
            match command {
                Command::Frame(frame) => {
                    self.released += 1;
                    self.send(frame).map_err(Stop::error)?;
                }
                Command::SetRecv(framer) => {
                    self.control_done();
                    tracing::trace!("receive framer switched");
                    self.framed.framers().set_boxed_recv_framer(framer);
                }
                Command::SetSend(framer) => {
                    self.control_done();
                    tracing::trace!("send framer switched");
                    self.framed.framers().set_boxed_send_framer(framer);
                }
                Command::Close => {
                    self.control_done();
                    return Poll::Ready(Err(Stop::flushing(CloseReason::Local)));
                }
                Command::Wrap(wrapper) => {
                    self.control_done();
                    self.wrap = Some(WrapState::Flushing(wrapper));
                    return Poll::Ready(Ok(true));
                }
                Command::Shutdown { graceful: true } => self.draining = true,
                Command::Shutdown { graceful: false } => {
                    return Poll::Ready(Err(Stop::now(CloseReason::Local)));
                }
            }
        }
        // The batch is used up: yield to the other work, then come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn control_done(&self) {
        self.shared.control.fetch_sub(1, Ordering::AcqRel);
    }

    /// Notes traffic for the idle timeout (reading the clock only if there is one).
    fn touch(&mut self) {
        if self.idle.is_some() {
            self.last_activity = Instant::now();
        }
    }

    fn send(&mut self, frame: Out) -> Result<(), Error> {
        self.frames_out += 1;
        self.touch();
        Pin::new(&mut self.framed).start_send(frame)
    }

    /// Writes pending reply frames, then takes the next completed call's reply.
    fn poll_replies(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Stop>> {
        let mut progress = false;
        loop {
            while !self.pending.is_empty() {
                match Pin::new(&mut self.framed).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(Stop::error(err))),
                    Poll::Pending => return Poll::Pending,
                }
                if let Some(frame) = self.pending.pop_front() {
                    self.send(frame).map_err(Stop::error)?;
                    progress = true;
                }
            }
            let Poll::Ready(Some(outcome)) = self.in_flight.poll_next(cx) else {
                return Poll::Ready(Ok(progress));
            };
            progress = true;
            match outcome {
                Ok(Ok(response)) => {
                    let reply = response.into_reply();
                    // Commands issued during this call go out before its reply.
                    if !self.deferred.is_empty() || !self.commands.is_empty() {
                        reply.push_to(&mut self.pending);
                        return Poll::Ready(Ok(true));
                    }
                    // The common case, one frame with room to write it, skips the queue.
                    match reply.into_single() {
                        Ok(frame) => match Pin::new(&mut self.framed).poll_ready(cx) {
                            Poll::Ready(Ok(())) => self.send(frame).map_err(Stop::error)?,
                            Poll::Ready(Err(err)) => return Poll::Ready(Err(Stop::error(err))),
                            Poll::Pending => {
                                self.pending.push_back(frame);
                                return Poll::Pending;
                            }
                        },
                        Err(reply) => reply.push_to(&mut self.pending),
                    }
                }
                Ok(Err(err)) => {
                    return Poll::Ready(Err(Stop::error(Error::application(err))));
                }
                Err(panic) => return Poll::Ready(Err(Stop::error(panic_error(panic)))),
            }
        }
    }

    /// Decodes the next frame and hands it to the application.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Stop>> {
        let ready = catch_unwind(AssertUnwindSafe(|| self.app.poll_ready(cx)));
        match ready {
            Ok(Poll::Ready(Ok(()))) => {}
            Ok(Poll::Ready(Err(err))) => {
                return Poll::Ready(Err(Stop::error(Error::application(err))))
            }
            Ok(Poll::Pending) => return Poll::Pending,
            Err(panic) => return Poll::Ready(Err(Stop::error(panic_error(panic)))),
        }
        let frame = match ready!(Pin::new(&mut self.framed).poll_next(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(err)) => return Poll::Ready(Err(Stop::error(err))),
            None => {
                self.read_closed = true;
                return Poll::Ready(Ok(true));
            }
        };
        self.frames_in += 1;
        self.touch();
        match catch_unwind(AssertUnwindSafe(|| self.app.call(frame))) {
            Ok(call) => self.in_flight.push(AssertUnwindSafe(call).catch_unwind()),
            Err(panic) => return Poll::Ready(Err(Stop::error(panic_error(panic)))),
        }
        Poll::Ready(Ok(true))
    }

    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        let Some(timeout) = self.config.idle_timeout else {
            return Poll::Pending;
        };
        let Some(sleep) = self.idle.as_mut() else {
            return Poll::Pending;
        };
        loop {
            ready!(sleep.as_mut().poll(cx));
            let deadline = self.last_activity + timeout;
            if deadline <= Instant::now() {
                return Poll::Ready(Stop::flushing(CloseReason::Idle));
            }
            // There was activity since the timer was set: wait for the rest.
            sleep.as_mut().reset(deadline);
        }
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
