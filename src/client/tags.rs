//! Tags for the multiplexed mode: how a request carries one and a response names it
//! ([`Tagger`]), and the client's tag space ([`Tags`]): fresh tags, tags whose response
//! came back, and tags of abandoned requests once their quarantine is over.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How requests and responses carry the tag that matches them (a DNS ID, an RPC
/// sequence number), for [`Client::multiplexed`](crate::client::Client::multiplexed).
///
/// Tags are numbers below the client's tag space (default 65,536); the client picks a
/// tag no request in flight holds, and this trait writes it and reads it back.
pub trait Tagger<Req, Resp>: Send + Sync + 'static {
    /// The request with `tag` written into it.
    fn tag(&self, request: Req, tag: u64) -> Req;

    /// The tag a response carries, or `None` if it carries none (then it goes to the
    /// unsolicited handler).
    fn tag_of(&self, response: &Resp) -> Option<u64>;

    /// The message that tells the peer a request is given up on (its future dropped,
    /// or its response timed out), sent best effort (dropped if the connection's queue
    /// is full): JSON-RPC's `$/cancelRequest`. `None`, the default, sends nothing.
    fn cancel(&self, tag: u64) -> Option<Req> {
        let _ = tag;
        None
    }
}

/// A client's tag space.
#[derive(Debug)]
pub(crate) struct Tags {
    space: u64,
    next_fresh: u64,
    free: Vec<u64>,
    /// Abandoned tags waiting out their quarantine, oldest first.
    quarantined: VecDeque<(u64, Instant)>,
    quarantine: Duration,
}

impl Tags {
    pub(crate) fn new(space: u64, quarantine: Duration) -> Self {
        Tags {
            space: space.max(1),
            next_fresh: 0,
            free: Vec::new(),
            quarantined: VecDeque::new(),
            quarantine,
        }
    }

    /// A tag no request in flight holds and no late answer can still come for, if one
    /// is free now.
    pub(crate) fn take(&mut self, now: Instant) -> Option<u64> {
        if let Some(tag) = self.free.pop() {
            return Some(tag);
        }
        if self.next_fresh < self.space {
            self.next_fresh += 1;
            return Some(self.next_fresh - 1);
        }
        match self.quarantined.front() {
            Some(&(tag, since)) if now.saturating_duration_since(since) >= self.quarantine => {
                self.quarantined.pop_front();
                Some(tag)
            }
            _ => None,
        }
    }

    /// A tag whose response came (or that was taken and not used): free at once.
    pub(crate) fn free(&mut self, tag: u64) {
        self.free.push(tag);
    }

    /// The tag of a request given up on: out of use for the quarantine, so that its
    /// late answer cannot be taken for the answer to a newer request.
    pub(crate) fn quarantine(&mut self, tag: u64, now: Instant) {
        self.quarantined.push_back((tag, now));
    }

    /// When the oldest quarantined tag is free again, if any is quarantined (`None`
    /// too when that is beyond what an `Instant` holds: never).
    pub(crate) fn next_release(&self) -> Option<Instant> {
        self.quarantined
            .front()
            .and_then(|&(_, since)| since.checked_add(self.quarantine))
    }
}

#[cfg(test)]
mod tests {
    use super::Tags;
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn fresh_tags_first_then_freed_ones_then_quarantined_ones_once_their_time_is_up() {
        let now = Instant::now();
        let mut tags = Tags::new(2, Duration::from_secs(30));
        assert_eq!(tags.take(now), Some(0));
        assert_eq!(tags.take(now), Some(1));
        assert_eq!(tags.take(now), None);
        tags.free(1);
        tags.quarantine(0, now);
        assert_eq!(tags.take(now), Some(1));
        assert_eq!(tags.take(now), None);
        assert_eq!(tags.next_release(), Some(now + Duration::from_secs(30)));
        let later = now + Duration::from_secs(30);
        assert_eq!(tags.take(later), Some(0));
        let mut forever = Tags::new(1, Duration::MAX);
        forever.take(now);
        forever.quarantine(0, now);
        assert_eq!(
            forever.next_release(),
            None,
            "never, rather than an overflow"
        );
    }
}
