//! The application calls of one connection that have not been answered yet, in
//! request order.
//!
//! The calls live in a ring of `max_in_flight` pinned boxes, allocated on first use
//! and reused for every later call, so a connection does not allocate per frame (as a
//! `FuturesOrdered` would). Every pending call is polled when the driver wakes; the
//! ring is the connection's small `max_in_flight`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

struct Slot<F: Future> {
    future: Pin<Box<Option<F>>>,
    output: Option<F::Output>,
}

pub(crate) struct InFlight<F: Future> {
    slots: Vec<Slot<F>>,
    capacity: usize,
    head: usize,
    len: usize,
}

impl<F: Future> InFlight<F> {
    pub(crate) fn new(capacity: usize) -> Self {
        InFlight {
            slots: Vec::new(),
            capacity: capacity.max(1),
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ring index `offset` places after the oldest call (no division: this runs
    /// per frame).
    fn index(&self, offset: usize) -> usize {
        let index = self.head + offset;
        if index >= self.capacity {
            index - self.capacity
        } else {
            index
        }
    }

    /// Starts tracking a call. The caller keeps `len() < capacity`.
    pub(crate) fn push(&mut self, future: F) {
        debug_assert!(self.len < self.capacity);
        let index = self.index(self.len);
        if index == self.slots.len() {
            self.slots.push(Slot {
                future: Box::pin(None),
                output: None,
            });
        }
        self.slots[index].future.as_mut().set(Some(future));
        self.len += 1;
    }

    /// Polls every pending call; yields the oldest call's output once it is done.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        for offset in 0..self.len {
            let index = self.index(offset);
            let slot = &mut self.slots[index];
            if slot.output.is_some() {
                continue;
            }
            if let Some(future) = slot.future.as_mut().as_pin_mut() {
                if let Poll::Ready(output) = future.poll(cx) {
                    slot.output = Some(output);
                    slot.future.as_mut().set(None);
                }
            }
        }
        match self.slots[self.head].output.take() {
            Some(output) => {
                self.head = self.index(1);
                self.len -= 1;
                Poll::Ready(Some(output))
            }
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;
    use std::future::{pending, ready, Future};
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    type Call = Pin<Box<dyn Future<Output = u32>>>;

    #[test]
    fn an_unfinished_call_holds_back_later_outputs() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: InFlight<Call> = InFlight::new(2);
        calls.push(Box::pin(pending()));
        calls.push(Box::pin(ready(2)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Pending);
        assert_eq!(calls.len(), 2);
    }

    #[test]
    fn outputs_come_in_push_order_and_slots_are_reused() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: InFlight<Call> = InFlight::new(2);
        calls.push(Box::pin(ready(1)));
        calls.push(Box::pin(ready(2)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Ready(Some(1)));
        calls.push(Box::pin(ready(3)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Ready(Some(2)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Ready(Some(3)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Ready(None));
        assert!(calls.is_empty());
        assert_eq!(
            calls.slots.len(),
            2,
            "the ring never grows past its capacity"
        );
    }
}
