//! The application calls of one connection that have not been answered yet, in
//! request order.
//!
//! Each call's future lives in a pinned box that is reused for later calls, so a
//! connection allocates one box per in-flight slot once, not one per frame (as a
//! `FuturesOrdered` would). Every pending call is polled when the driver wakes; the
//! number of slots is the connection's small `max_in_flight`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

struct Slot<F: Future> {
    future: Pin<Box<Option<F>>>,
    output: Option<F::Output>,
}

pub(crate) struct InFlight<F: Future> {
    slots: VecDeque<Slot<F>>,
    spare: Vec<Pin<Box<Option<F>>>>,
}

impl<F: Future> InFlight<F> {
    pub(crate) fn new() -> Self {
        InFlight {
            slots: VecDeque::new(),
            spare: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(crate) fn push(&mut self, future: F) {
        let mut boxed = self.spare.pop().unwrap_or_else(|| Box::pin(None));
        boxed.as_mut().set(Some(future));
        self.slots.push_back(Slot {
            future: boxed,
            output: None,
        });
    }

    /// Polls every pending call; yields the oldest call's output once it is done.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        for slot in self.slots.iter_mut() {
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
        match self.slots.front() {
            None => Poll::Ready(None),
            Some(slot) if slot.output.is_some() => {
                let Slot { future, output } = self.slots.pop_front().expect("front exists");
                self.spare.push(future);
                Poll::Ready(output)
            }
            Some(_) => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;
    use std::future::{pending, ready, Future};
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn outputs_come_in_push_order_and_boxes_are_reused() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls: InFlight<Pin<Box<dyn Future<Output = u32>>>> = InFlight::new();
        calls.push(Box::pin(pending()));
        calls.push(Box::pin(ready(2)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Pending, "the first blocks the second");
        assert_eq!(calls.len(), 2);
        let mut calls: InFlight<Pin<Box<dyn Future<Output = u32>>>> = InFlight::new();
        calls.push(Box::pin(ready(1)));
        calls.push(Box::pin(ready(2)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Ready(Some(1)));
        calls.push(Box::pin(ready(3)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Ready(Some(2)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Ready(Some(3)));
        assert_eq!(calls.poll_next(&mut cx), Poll::Ready(None));
        assert!(calls.is_empty());
        assert_eq!(calls.spare.len(), 2, "boxes are kept for reuse");
    }
}
