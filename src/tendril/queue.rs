//! The one channel between a connection's handles and its driver.
//!
//! Everything a [`Tendril`](super::Tendril) asks of its connection goes through one
//! bounded FIFO, in the order issued: frames to send, framer switches, a live wrap, the
//! close. The bound counts commands not yet *applied* (queued, or taken by the driver
//! and waiting for a reply to be written), so it holds however the driver batches. A
//! close never needs room (there is at most one, and it must not fail on a full queue);
//! the manager's shutdown signals are a separate word the driver reads on every pass,
//! so a connection stuck behind a peer that does not read still sees them.
//!
//! Pushing takes a short uncontended lock; the driver looks at an atomic counter
//! first and takes the whole queue in one lock when there is something, so a
//! connection that gets no commands (the frame path) never locks.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use super::command::Command;
use super::io::budget::{Charge, FREE};
use crate::error::Error;

/// What the manager asks of a connection, strongest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Signal {
    None = 0,
    /// Shed for a newcomer (a quiet UDP peer): finish what is in flight, then close.
    ShedWhenDone = 1,
    /// Stop reading, finish what is in flight, flush, close.
    Graceful = 2,
    /// Shed for a newcomer while idle (a full table): close now, without lingering.
    ShedIdle = 3,
    /// Shed for the memory budget: close now with that error.
    ShedMemory = 4,
    /// Close now.
    Abort = 5,
}

/// Why a command was not queued; the command is handed back.
pub(crate) enum Refused<T> {
    Full(T),
    Closed(T),
    /// The manager's memory budget is short and this connection's queued frames are
    /// over its share: the connection is being shed.
    OverBudget(T, Error),
}

pub(crate) struct Queue<In, Out> {
    state: Mutex<State<In, Out>>,
    /// Commands in `state.items`, for the driver to look at without the lock.
    queued: AtomicUsize,
    signal: AtomicU8,
    capacity: u32,
    /// Frames beyond `capacity` are still taken while the queued frames hold at most
    /// this many bytes: a burst of small frames to a reader whose task has not run yet
    /// is not a slow reader.
    byte_room: u32,
    driver: AtomicWaker,
    room: Notify,
    /// The size of a frame, for the memory budget (0 when unknown).
    frame_len: fn(&Out) -> usize,
}

struct State<In, Out> {
    items: VecDeque<Command<In, Out>>,
    /// Counted commands not yet applied.
    used: usize,
    close_queued: bool,
    /// The driver is gone.
    closed: bool,
    /// Tasks waiting for room in `push_wait`.
    waiting: usize,
    /// Bytes of the frames in `items` (as far as their size is known).
    bytes: usize,
    /// Their account with the manager's memory budget.
    charge: Option<Charge>,
    /// Written before the close if the memory budget sheds the connection (kept here,
    /// under the queue's lock, rather than under a lock of its own).
    shed_reply: Option<Box<Out>>,
}

impl<In, Out> Queue<In, Out> {
    pub(crate) fn new(capacity: usize, byte_room: usize, frame_len: fn(&Out) -> usize) -> Self {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                used: 0,
                close_queued: false,
                closed: false,
                waiting: 0,
                bytes: 0,
                charge: None,
                shed_reply: None,
            }),
            queued: AtomicUsize::new(0),
            signal: AtomicU8::new(Signal::None as u8),
            capacity: u32::try_from(capacity.max(1)).unwrap_or(u32::MAX),
            byte_room: u32::try_from(byte_room).unwrap_or(u32::MAX),
            driver: AtomicWaker::new(),
            room: Notify::new(),
            frame_len,
        }
    }

    /// Charges the frames queued from now on to the manager's memory budget.
    pub(crate) fn set_charge(&self, charge: Charge) {
        self.lock().charge = Some(charge);
    }

    /// Counts `command`'s bytes against the budget (beyond the first 16 KiB queued,
    /// which are free); refuses it, and sheds the connection, if that puts it over its
    /// share while the budget is short.
    fn count(&self, state: &mut State<In, Out>, command: &Command<In, Out>) -> Result<(), Error> {
        let Command::Frame(frame) = command else {
            return Ok(());
        };
        let len = (self.frame_len)(frame);
        if len == 0 {
            return Ok(());
        }
        let bytes = state.bytes.saturating_add(len);
        let Some(charge) = state.charge.as_mut() else {
            // Counted all the same: the byte room is measured with it.
            state.bytes = bytes;
            return Ok(());
        };
        if let Err(err) = charge.set(bytes.saturating_sub(FREE)) {
            let _ = charge.set(state.bytes.saturating_sub(FREE));
            self.signal(Signal::ShedMemory);
            return Err(err);
        }
        state.bytes = bytes;
        Ok(())
    }

    /// True if `command` is a frame of known size that keeps the queued frames within
    /// the byte room.
    fn fits_in_bytes(&self, state: &State<In, Out>, command: &Command<In, Out>) -> bool {
        let Command::Frame(frame) = command else {
            return false;
        };
        let len = (self.frame_len)(frame);
        len > 0 && state.bytes.saturating_add(len) <= self.byte_room as usize
    }

    /// The queued frames left the queue: their bytes go back to the budget.
    fn uncount(state: &mut State<In, Out>) {
        state.bytes = 0;
        if let Some(charge) = state.charge.as_mut() {
            let _ = charge.set(0);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<In, Out>> {
        // The state is plain data: a panic elsewhere leaves it consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends under the lock and wakes the driver after it.
    fn enqueue(&self, mut state: MutexGuard<'_, State<In, Out>>, command: Command<In, Out>) {
        state.items.push_back(command);
        self.queued.store(state.items.len(), Ordering::Release);
        drop(state);
        self.driver.wake();
    }

    /// Queues `command` if there is room.
    pub(crate) fn push(&self, command: Command<In, Out>) -> Result<(), Refused<Command<In, Out>>> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed(command));
        }
        if state.used >= self.capacity as usize && !self.fits_in_bytes(&state, &command) {
            return Err(Refused::Full(command));
        }
        if let Err(err) = self.count(&mut state, &command) {
            return Err(Refused::OverBudget(command, err));
        }
        state.used += 1;
        self.enqueue(state, command);
        Ok(())
    }

    /// Queues `command`, waiting while the queue is full.
    pub(crate) async fn push_wait(
        &self,
        command: Command<In, Out>,
    ) -> Result<(), Refused<Command<In, Out>>> {
        let mut command = command;
        loop {
            let mut notified = pin!(self.notified());
            // Registered before the check, so room freed after it wakes this task.
            notified.as_mut().enable();
            match self.push(command) {
                Ok(()) => return Ok(()),
                Err(Refused::Full(back)) => command = back,
                Err(refused) => return Err(refused),
            }
            self.lock().waiting += 1;
            let _waiting = Waiting(self);
            notified.await;
        }
    }

    /// Queues the close, which never needs room; true if it was queued (false if a
    /// close was already queued or the connection is gone).
    pub(crate) fn push_close(&self, command: Command<In, Out>) -> bool {
        let mut state = self.lock();
        if state.closed || state.close_queued {
            return false;
        }
        state.close_queued = true;
        self.enqueue(state, command);
        true
    }

    /// Queues `command` without the room check: the caller's own permits bound what it
    /// pushes this way (a client's requests, at most its in-flight bound), so the queue
    /// stays bounded by its capacity plus those.
    pub(crate) fn push_permitted(
        &self,
        command: Command<In, Out>,
    ) -> Result<(), Refused<Command<In, Out>>> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed(command));
        }
        if let Err(err) = self.count(&mut state, &command) {
            return Err(Refused::OverBudget(command, err));
        }
        state.used += 1;
        self.enqueue(state, command);
        Ok(())
    }

    /// The driver: takes every queued command, in order, appending to `into`.
    pub(crate) fn take(&self, into: &mut VecDeque<Command<In, Out>>) {
        if self.queued.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut state = self.lock();
        if into.is_empty() {
            std::mem::swap(into, &mut state.items);
        } else {
            into.append(&mut state.items);
        }
        self.queued.store(0, Ordering::Release);
        // The driver encodes them now; the write buffer is counted from there.
        if state.bytes > 0 {
            Self::uncount(&mut state);
        }
    }

    /// True if commands wait to be taken (the driver's cheap check).
    #[inline]
    pub(crate) fn has_commands(&self) -> bool {
        self.queued.load(Ordering::Acquire) > 0
    }

    /// The driver applied `count` counted commands: their room is free again.
    pub(crate) fn applied(&self, count: usize) {
        if count == 0 {
            return;
        }
        let mut state = self.lock();
        state.used = state.used.saturating_sub(count);
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            self.room.notify_waiters();
        }
    }

    /// The manager's signal; a stronger one replaces a weaker one.
    pub(crate) fn signal(&self, signal: Signal) {
        self.signal.fetch_max(signal as u8, Ordering::AcqRel);
        self.driver.wake();
    }

    /// The strongest signal given so far.
    #[inline]
    pub(crate) fn signalled(&self) -> Signal {
        match self.signal.load(Ordering::Acquire) {
            0 => Signal::None,
            1 => Signal::ShedWhenDone,
            2 => Signal::Graceful,
            3 => Signal::ShedIdle,
            4 => Signal::ShedMemory,
            _ => Signal::Abort,
        }
    }

    /// The driver is about to sleep: commands and signals wake `waker`.
    #[inline]
    pub(crate) fn register(&self, waker: &Waker) {
        self.driver.register(waker);
    }

    /// Sets the frame to write if the memory budget sheds the connection.
    pub(crate) fn set_shed_reply(&self, frame: Out) {
        self.lock().shed_reply = Some(Box::new(frame));
    }

    /// The frame to write if the memory budget sheds the connection, taken.
    pub(crate) fn take_shed_reply(&self) -> Option<Out> {
        self.lock().shed_reply.take().map(|frame| *frame)
    }

    /// Resolves when room is freed for a waiting sender or the queue closes (the
    /// connection's one notification: its `closed()` waits on it too).
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.room.notified()
    }

    /// The driver is gone: queued commands are dropped, and everyone waiting is told.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let dropped = std::mem::take(&mut state.items);
        Self::uncount(&mut state);
        // The account ends with the connection.
        let charge = state.charge.take();
        self.queued.store(0, Ordering::Release);
        drop(state);
        drop((dropped, charge));
        self.room.notify_waiters();
    }
}

/// One task waiting in `push_wait`, counted while it waits (even if cancelled).
struct Waiting<'a, In, Out>(&'a Queue<In, Out>);

impl<In, Out> Drop for Waiting<'_, In, Out> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::{Queue, Refused, Signal};
    use crate::tendril::command::Command;
    use std::collections::VecDeque;

    type Q = Queue<bytes::Bytes, &'static str>;

    #[test]
    fn the_bound_counts_commands_until_they_are_applied() {
        let queue = Q::new(2, 0, |_| 0);
        assert!(queue.push(Command::Frame("a")).is_ok());
        assert!(queue.push(Command::Frame("b")).is_ok());
        assert!(matches!(
            queue.push(Command::Frame("c")),
            Err(Refused::Full(_))
        ));
        let mut taken = VecDeque::new();
        queue.take(&mut taken);
        assert_eq!(taken.len(), 2);
        // Taken but not applied: still counted.
        assert!(matches!(
            queue.push(Command::Frame("c")),
            Err(Refused::Full(_))
        ));
        queue.applied(1);
        assert!(queue.push(Command::Frame("c")).is_ok());
    }

    #[test]
    fn frames_of_known_size_have_room_in_bytes_beyond_the_count() {
        // One command, then 10 bytes more of frames.
        let queue = Q::new(1, 10, |frame| frame.len());
        assert!(queue.push(Command::Frame("abcdef")).is_ok());
        assert!(queue.push(Command::Frame("ghij")).is_ok());
        assert!(matches!(
            queue.push(Command::Frame("k")),
            Err(Refused::Full(_))
        ));
        // A control command has no byte room.
        let switch = Command::SetSend {
            framer: Box::new(crate::framer::AnyEncoder::new(
                crate::framer::IdentityFramer::new(),
            )),
            call: None,
        };
        assert!(matches!(queue.push(switch), Err(Refused::Full(_))));
        // Taken by the driver: the bytes are its now, the room is back.
        let mut taken = VecDeque::new();
        queue.take(&mut taken);
        assert!(queue.push(Command::Frame("k")).is_ok());
    }

    #[test]
    fn a_close_fits_in_a_full_queue_once() {
        let queue = Q::new(1, 0, |_| 0);
        assert!(queue.push(Command::Frame("a")).is_ok());
        assert!(queue.push_close(Command::Close {
            error: None,
            call: None
        }));
        assert!(!queue.push_close(Command::Close {
            error: None,
            call: None
        }));
        let mut taken = VecDeque::new();
        queue.take(&mut taken);
        assert!(matches!(taken.back(), Some(Command::Close { .. })));
    }

    #[test]
    fn signals_only_get_stronger_and_closing_refuses_commands() {
        let queue = Q::new(4, 0, |_| 0);
        queue.signal(Signal::Abort);
        queue.signal(Signal::Graceful);
        assert_eq!(queue.signalled(), Signal::Abort);
        queue.close();
        assert!(matches!(
            queue.push(Command::Frame("a")),
            Err(Refused::Closed(_))
        ));
    }
}
