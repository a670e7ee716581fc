//! Tags for the multiplexed mode: how a request carries one and a response names it,
//! and the caller's side of allocating them without collisions.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

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
}

/// The caller's pool of tags: fresh ones, those the dispatcher handed back (their
/// response arrived), and those of abandoned requests once their quarantine is over.
pub(crate) struct TagPool {
    space: u64,
    next_fresh: u64,
    free: Vec<u64>,
    returned: mpsc::UnboundedReceiver<u64>,
    abandoned: mpsc::UnboundedReceiver<(u64, Instant)>,
    /// Abandoned tags waiting out their quarantine, oldest first.
    quarantined: std::collections::VecDeque<(u64, Instant)>,
    quarantine: Duration,
    /// Wakes the caller when the oldest quarantine ends.
    timer: Option<Pin<Box<Sleep>>>,
}

impl TagPool {
    pub(crate) fn new(
        space: u64,
        quarantine: Duration,
        returned: mpsc::UnboundedReceiver<u64>,
        abandoned: mpsc::UnboundedReceiver<(u64, Instant)>,
    ) -> Self {
        TagPool {
            space: space.max(1),
            next_fresh: 0,
            free: Vec::new(),
            returned,
            abandoned,
            quarantined: std::collections::VecDeque::new(),
            quarantine,
            timer: None,
        }
    }

    /// A tag no request in flight holds, if one is free now.
    pub(crate) fn take(&mut self) -> Option<u64> {
        if let Some(tag) = self.free.pop() {
            return Some(tag);
        }
        while let Ok(tag) = self.returned.try_recv() {
            self.free.push(tag);
        }
        if let Some(tag) = self.free.pop() {
            return Some(tag);
        }
        if self.next_fresh < self.space {
            self.next_fresh += 1;
            return Some(self.next_fresh - 1);
        }
        // Last resort: tags of abandoned requests whose late answer can no longer come.
        while let Ok(abandoned) = self.abandoned.try_recv() {
            self.quarantined.push_back(abandoned);
        }
        let now = Instant::now();
        match self.quarantined.front() {
            Some(&(tag, since)) if now.duration_since(since) >= self.quarantine => {
                self.quarantined.pop_front();
                Some(tag)
            }
            _ => None,
        }
    }

    /// Ready with a free tag; otherwise registers for a tag coming back (a response,
    /// an abandoned request, the end of a quarantine).
    pub(crate) fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<u64> {
        loop {
            if let Some(tag) = self.take() {
                return Poll::Ready(tag);
            }
            if let Poll::Ready(Some(tag)) = self.returned.poll_recv(cx) {
                self.free.push(tag);
                continue;
            }
            if let Poll::Ready(Some(abandoned)) = self.abandoned.poll_recv(cx) {
                self.quarantined.push_back(abandoned);
                continue;
            }
            if let Some(at) = self.next_release() {
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                timer.as_mut().reset(at);
                if timer.as_mut().poll(cx).is_ready() {
                    continue;
                }
            }
            return Poll::Pending;
        }
    }

    /// Puts back a tag that was taken but not used.
    pub(crate) fn put_back(&mut self, tag: u64) {
        self.free.push(tag);
    }

    /// When the oldest quarantined tag is free again, if any is quarantined.
    pub(crate) fn next_release(&self) -> Option<Instant> {
        self.quarantined
            .front()
            .map(|&(_, since)| since + self.quarantine)
    }
}
