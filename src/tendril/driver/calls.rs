//! The application calls of one connection that have not been answered yet.
//!
//! Each call lives in a slot whose pinned box is allocated on first use and reused
//! for every later call, so a connection does not allocate per frame (as a
//! `FuturesOrdered` would); there are at most `max_in_flight` slots. A call is polled
//! once as soon as it is made: a call that is ready at once (the common case) is
//! answered without being queued. The pending ones are all polled when the driver
//! wakes; `max_in_flight` is small.
//!
//! In request order the replies come out in call order (a finished call waits for the
//! ones before it); in completion order each comes out as soon as it is done.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use crate::tendril::call_scope::Scope;
use crate::tendril::ReplyOrder;

struct Slot<F: Future> {
    future: Pin<Box<Option<F>>>,
    /// Done, waiting for the calls before it (request order) or to be taken.
    output: Option<F::Output>,
    /// The call's number; `None` while the slot is free.
    call: Option<u64>,
    /// When the call was first seen pending (for the call timeout).
    started: Option<Instant>,
    /// Input bytes of its frame counted against the memory budget while it runs.
    held: usize,
}

pub(super) struct Calls<F: Future> {
    slots: Vec<Slot<F>>,
    /// Request order: the slots of unanswered calls, oldest first. Completion order:
    /// the slots whose output waits to be taken, in completion order.
    queue: VecDeque<usize>,
    order: ReplyOrder,
    len: usize,
    /// Held bytes of the calls answered or dropped since the driver last took them.
    freed: usize,
    /// The slot of the last call `start` left pending.
    last: usize,
}

impl<F: Future> Calls<F> {
    pub(super) fn new(order: ReplyOrder) -> Self {
        Calls {
            slots: Vec::new(),
            queue: VecDeque::new(),
            order,
            len: 0,
            freed: 0,
            last: 0,
        }
    }

    /// Answers the outstanding calls, and those made from now on, in `order`: in
    /// completion order those already done first (oldest first); in request order in
    /// the order they were made.
    pub(super) fn set_order(&mut self, order: ReplyOrder) {
        if order == self.order {
            return;
        }
        self.order = order;
        match order {
            ReplyOrder::Completion => {
                let slots = &self.slots;
                self.queue.retain(|&index| slots[index].output.is_some());
            }
            ReplyOrder::Request => {
                let mut outstanding: Vec<(u64, usize)> = (self.slots.iter().enumerate())
                    .filter_map(|(index, slot)| Some((slot.call?, index)))
                    .collect();
                outstanding.sort_unstable();
                self.queue = outstanding.into_iter().map(|(_, index)| index).collect();
            }
        }
    }

    /// The call `start` just left pending holds `held` counted input bytes, given
    /// back (through [`take_freed`](Self::take_freed)) when it ends.
    pub(super) fn hold_last(&mut self, held: usize) {
        if let Some(slot) = self.slots.get_mut(self.last) {
            slot.held = held;
        }
    }

    /// The held bytes of the calls answered or dropped since the last call of this:
    /// to give back to the memory budget.
    #[inline]
    pub(super) fn take_freed(&mut self) -> usize {
        std::mem::take(&mut self.freed)
    }

    /// Calls made and not yet answered.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True while call `call` has not been answered.
    pub(super) fn is_outstanding(&self, call: u64) -> bool {
        self.len > 0 && self.slots.iter().any(|slot| slot.call == Some(call))
    }

    /// Tracks call number `call`, the future `make` gives, polling it once (in the
    /// caller's call scope): its output if it is done and may be answered now, or the
    /// panic of `make`. The future is made in its slot, not moved there.
    #[inline(always)]
    pub(super) fn start(
        &mut self,
        make: impl FnOnce() -> F,
        call: u64,
        cx: &mut Context<'_>,
    ) -> std::thread::Result<Option<(u64, F::Output)>> {
        // The first free slot: slot 0 whenever it is free (always, one call at a time);
        // there are at most `max_in_flight` slots to look through.
        let index = if let Some(index) = self.slots.iter().position(|slot| slot.call.is_none()) {
            index
        } else {
            // One slot at a time: most connections never need a second.
            self.slots.reserve_exact(1);
            self.slots.push(Slot {
                future: Box::pin(None),
                output: None,
                call: None,
                started: None,
                held: 0,
            });
            self.slots.len() - 1
        };
        let slot = &mut self.slots[index];
        let mut future = slot.future.as_mut();
        catch_unwind(AssertUnwindSafe(|| future.set(Some(make()))))?;
        let polled = match slot.future.as_mut().as_pin_mut() {
            Some(future) => future.poll(cx),
            None => Poll::Pending,
        };
        match polled {
            Poll::Ready(output)
                if self.order == ReplyOrder::Completion || self.queue.is_empty() =>
            {
                // Answered at once: the slot was never seen taken.
                slot.future.as_mut().set(None);
                // Its held bytes are the caller's to give back (it knows them).
                Ok(Some((call, output)))
            }
            Poll::Ready(output) => {
                slot.future.as_mut().set(None);
                slot.output = Some(output);
                slot.call = Some(call);
                self.last = index;
                self.queue.push_back(index);
                self.len += 1;
                Ok(None)
            }
            Poll::Pending => {
                slot.call = Some(call);
                self.last = index;
                if self.order == ReplyOrder::Request {
                    self.queue.push_back(index);
                }
                self.len += 1;
                Ok(None)
            }
        }
    }

    fn release(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.future.as_mut().set(None);
        slot.output = None;
        slot.call = None;
        slot.started = None;
        self.freed += std::mem::take(&mut slot.held);
    }

    /// Polls every pending call once, in the call scope of connection `connection`.
    pub(super) fn poll(&mut self, connection: u64, cx: &mut Context<'_>) {
        if self.len == 0 {
            return;
        }
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let (Some(call), Some(future)) = (slot.call, slot.future.as_mut().as_pin_mut()) else {
                continue;
            };
            let polled = {
                let _scope = Scope::enter(connection, call);
                future.poll(cx)
            };
            if let Poll::Ready(output) = polled {
                slot.future.as_mut().set(None);
                slot.output = Some(output);
                if self.order == ReplyOrder::Completion {
                    self.queue.push_back(index);
                }
            }
        }
    }

    /// The next output that may be answered: the oldest call's (request order) or the
    /// next finished one's (completion order).
    pub(super) fn next(&mut self) -> Option<(u64, F::Output)> {
        let index = match self.order {
            ReplyOrder::Request => {
                let &index = self.queue.front()?;
                self.slots[index].output.as_ref()?;
                self.queue.pop_front();
                index
            }
            ReplyOrder::Completion => self.queue.pop_front()?,
        };
        let slot = &mut self.slots[index];
        let output = slot.output.take()?;
        let call = slot.call?;
        self.len -= 1;
        self.release(index);
        Some((call, output))
    }

    /// Notes `now` as the start of the calls seen pending for the first time.
    pub(super) fn mark_started(&mut self, now: Instant) {
        for slot in &mut self.slots {
            if slot.call.is_some() && slot.output.is_none() && slot.started.is_none() {
                slot.started = Some(now);
            }
        }
    }

    /// When the oldest pending call started.
    pub(super) fn oldest_start(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|slot| slot.call.is_some() && slot.output.is_none())
            .filter_map(|slot| slot.started)
            .min()
    }

    /// Drops the pending calls that started at or before `cutoff`, unanswered;
    /// returns how many.
    pub(super) fn drop_started_before(&mut self, cutoff: Instant) -> u64 {
        let mut dropped = 0;
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            let expired = slot.call.is_some()
                && slot.output.is_none()
                && slot.started.is_some_and(|started| started <= cutoff);
            if expired {
                self.queue.retain(|&queued| queued != index);
                self.len -= 1;
                self.release(index);
                dropped += 1;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::Calls;
    use crate::tendril::ReplyOrder;
    use std::future::{pending, ready, Future};
    use std::pin::Pin;
    use std::task::{Context, Waker};

    type Call = Pin<Box<dyn Future<Output = u32>>>;

    #[test]
    fn a_call_ready_at_once_is_answered_without_being_queued() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: Calls<Call> = Calls::new(ReplyOrder::Request);
        assert_eq!(
            calls.start(|| Box::pin(ready(1)), 0, &mut cx).unwrap(),
            Some((0, 1))
        );
        assert!(calls.is_empty());
        assert_eq!(
            calls.start(|| Box::pin(ready(2)), 1, &mut cx).unwrap(),
            Some((1, 2))
        );
        assert_eq!(calls.slots.len(), 1, "the slot is reused");
    }

    #[test]
    fn a_panic_while_making_a_call_gives_its_slot_back() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: Calls<Call> = Calls::new(ReplyOrder::Request);
        calls.start(|| Box::pin(pending()), 0, &mut cx).unwrap();
        let panicked = calls.start(|| panic!("in call"), 1, &mut cx);
        assert!(panicked.is_err());
        assert_eq!(calls.len(), 1, "the panicked call is not tracked");
        assert_eq!(calls.slots.len(), 2);
        calls.start(|| Box::pin(pending()), 2, &mut cx).unwrap();
        assert_eq!(calls.slots.len(), 2, "its slot serves the next call");
        assert!(calls.is_outstanding(2));
    }

    #[test]
    fn request_order_holds_a_finished_call_behind_an_unfinished_one() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: Calls<Call> = Calls::new(ReplyOrder::Request);
        assert_eq!(
            calls.start(|| Box::pin(pending()), 0, &mut cx).unwrap(),
            None
        );
        assert_eq!(
            calls.start(|| Box::pin(ready(2)), 1, &mut cx).unwrap(),
            None
        );
        calls.poll(1, &mut cx);
        assert_eq!(calls.next(), None);
        assert_eq!(calls.len(), 2);
        assert!(calls.is_outstanding(1));
    }

    #[test]
    fn completion_order_answers_a_finished_call_at_once() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: Calls<Call> = Calls::new(ReplyOrder::Completion);
        assert_eq!(
            calls.start(|| Box::pin(pending()), 0, &mut cx).unwrap(),
            None
        );
        assert_eq!(
            calls.start(|| Box::pin(ready(2)), 1, &mut cx).unwrap(),
            Some((1, 2))
        );
        assert!(calls.is_outstanding(0));
        assert!(!calls.is_outstanding(1));
    }

    #[test]
    fn switching_the_order_keeps_every_outstanding_call() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: Calls<Call> = Calls::new(ReplyOrder::Request);
        calls.start(|| Box::pin(pending()), 0, &mut cx).unwrap();
        calls.start(|| Box::pin(ready(1)), 1, &mut cx).unwrap();
        calls.set_order(ReplyOrder::Completion);
        assert_eq!(calls.next(), Some((1, 1)), "the one done comes out at once");
        assert!(calls.is_outstanding(0));
        assert_eq!(
            calls.start(|| Box::pin(ready(2)), 2, &mut cx).unwrap(),
            Some((2, 2))
        );
        calls.start(|| Box::pin(pending()), 3, &mut cx).unwrap();
        calls.set_order(ReplyOrder::Request);
        assert_eq!(calls.queue.len(), 2);
        assert_eq!(calls.next(), None, "call 0 comes first, and is not done");
        assert_eq!(calls.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_calls_are_dropped_and_their_slots_reused() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: Calls<Call> = Calls::new(ReplyOrder::Completion);
        calls.start(|| Box::pin(pending()), 0, &mut cx).unwrap();
        let start = tokio::time::Instant::now();
        calls.mark_started(start);
        assert_eq!(calls.oldest_start(), Some(start));
        assert_eq!(calls.drop_started_before(start), 1);
        assert!(calls.is_empty());
        calls.start(|| Box::pin(pending()), 1, &mut cx).unwrap();
        assert_eq!(calls.slots.len(), 1);
    }
}
