//! Shedding: the one way a full bound makes room for a newcomer.
//!
//! Four bounds make room under pressure, and all four do it the same way: they keep
//! their candidates in a [`ShedQueue`], and when a newcomer needs room they shed the
//! first candidate that still qualifies (or the one that qualifies most), telling it
//! to close:
//!
//! | bound | candidates | who is shed |
//! |---|---|---|
//! | the connection table (`max_connections`) | lingering and idle connections | for a newcomer below its source's fair share, a connection of the source holding the most (its lingering or quietest one: a one-pass choice, not a queue); else a lingering one, else the one idle longest (at least `shed_idle_after`) |
//! | the UDP peer table | peers in a one-datagram exchange | the one quiet longest (at least `shed_idle_after`) |
//! | the memory budget | connections holding counted bytes | the largest holder over its fair share |
//! | TLS handshake and PROXY header slots | waits in progress | the one waiting longest for its peer's first word (ClientHello, header byte), else the oldest running a second |
//!
//! Candidates are not kept up to date as they change (nothing is done per frame):
//! each is judged when it comes up, and one that no longer qualifies (it spoke again,
//! it left) is dropped then. Stale entries are also compacted away once they outnumber
//! the live ones, so a queue never holds more than about twice its bound's candidates.

use std::collections::VecDeque;

/// What a bound says of a candidate that comes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It qualifies: shed it.
    Shed,
    /// It is gone or no longer a candidate: drop it and look at the next.
    Stale,
    /// It does not qualify yet, and since the queue is in order, neither does any
    /// after it: stop.
    NotYet,
}

/// A bound's candidates for shedding, in the order they would go.
#[derive(Debug)]
pub(crate) struct ShedQueue<T> {
    queue: VecDeque<T>,
}

impl<T> Default for ShedQueue<T> {
    fn default() -> Self {
        ShedQueue {
            queue: VecDeque::new(),
        }
    }
}

impl<T> ShedQueue<T> {
    /// Candidates queued, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a candidate behind the others.
    pub(crate) fn push_back(&mut self, candidate: T) {
        self.queue.push_back(candidate);
    }

    /// Queues a candidate to go before the others.
    pub(crate) fn push_front(&mut self, candidate: T) {
        self.queue.push_front(candidate);
    }

    /// Replaces every candidate (a bound that looked at all its holders again).
    pub(crate) fn replace(&mut self, candidates: impl IntoIterator<Item = T>) {
        self.queue.clear();
        self.queue.extend(candidates);
    }

    /// Sheds the first candidate, in queue order, that `verdict` says qualifies: the
    /// stale ones before it are dropped, and a `NotYet` stops the search (and keeps
    /// that candidate).
    pub(crate) fn shed_first(&mut self, mut verdict: impl FnMut(&T) -> Verdict) -> Option<T> {
        while let Some(candidate) = self.queue.front() {
            match verdict(candidate) {
                Verdict::Shed => return self.queue.pop_front(),
                Verdict::Stale => {
                    self.queue.pop_front();
                }
                Verdict::NotYet => return None,
            }
        }
        None
    }

    /// Sheds the candidate `rank` ranks highest, of those it ranks at all (`None`:
    /// does not qualify now); a tie goes to the one queued first.
    pub(crate) fn shed_best<R: Ord>(&mut self, mut rank: impl FnMut(&T) -> Option<R>) -> Option<T> {
        let mut best: Option<(usize, R)> = None;
        for (at, candidate) in self.queue.iter().enumerate() {
            if let Some(r) = rank(candidate) {
                if best.as_ref().is_none_or(|(_, top)| r > *top) {
                    best = Some((at, r));
                }
            }
        }
        best.and_then(|(at, _)| self.queue.remove(at))
    }

    /// Drops the stale candidates once the queue holds more than twice the `live` ones
    /// (and a little): amortised O(1) per push, whether or not the bound ever fills.
    pub(crate) fn compact(&mut self, live: usize, mut stale: impl FnMut(&T) -> bool) {
        if self.queue.len() > 2 * live + 64 {
            self.queue.retain(|candidate| !stale(candidate));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ShedQueue, Verdict};

    #[test]
    fn the_first_that_qualifies_goes_and_stale_ones_before_it_are_dropped() {
        let mut queue = ShedQueue::default();
        queue.replace([1, 2, 3, 4]);
        // 1 is stale, 2 is not due yet: nothing is shed, 2 stays first.
        let shed = queue.shed_first(|&n| match n {
            1 => Verdict::Stale,
            2 => Verdict::NotYet,
            _ => Verdict::Shed,
        });
        assert_eq!(shed, None);
        assert_eq!(queue.len(), 3);
        assert_eq!(
            queue.shed_first(|&n| if n == 2 {
                Verdict::Stale
            } else {
                Verdict::Shed
            }),
            Some(3)
        );
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn the_best_ranked_goes_and_ties_go_to_the_first_queued() {
        let mut queue = ShedQueue::default();
        for n in [5, 9, 2, 9] {
            queue.push_back(n);
        }
        queue.push_front(1);
        assert_eq!(queue.shed_best(|&n| (n > 4).then_some(n)), Some(9));
        assert_eq!(queue.shed_best(|&n| (n > 100).then_some(n)), None);
        assert_eq!(queue.len(), 4);
    }

    #[test]
    fn compacting_keeps_the_queue_within_twice_the_live_candidates() {
        let mut queue = ShedQueue::default();
        for n in 0..1000 {
            queue.push_back(n);
            // Only the last ten are live.
            queue.compact(10, |&m| m < n - 9);
        }
        assert!(queue.len() <= 2 * 10 + 64 + 1, "{}", queue.len());
        assert!(!queue.is_empty());
    }
}
