//! The client's side of the connection: the application that receives responses and
//! hands each to the request waiting for it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Ready;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};
use tower::Service;

use super::Tagger;
use crate::error::BoxError;
use crate::tendril::Tendril;

/// What to do with a frame no request waits for.
pub(crate) type Unsolicited<Resp> = Arc<dyn Fn(Resp) + Send + Sync>;

/// The client's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) unsolicited: AtomicU64,
    pub(crate) unknown_tag: AtomicU64,
    pub(crate) late: AtomicU64,
}

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Frames that came with no request waiting (pipelined mode) or without a tag
    /// (multiplexed mode); handed to the unsolicited handler, or dropped if none is set.
    pub unsolicited: u64,
    /// Responses whose tag no request held (multiplexed mode), dropped.
    pub unknown_tag: u64,
    /// Responses to requests whose caller had given up (a timeout), dropped.
    pub late: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ClientStats {
        ClientStats {
            unsolicited: self.unsolicited.load(Ordering::Relaxed),
            unknown_tag: self.unknown_tag.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
        }
    }
}

fn unsolicited<Resp>(handler: &Option<Unsolicited<Resp>>, counters: &Counters, frame: Resp) {
    counters.unsolicited.fetch_add(1, Ordering::Relaxed);
    match handler {
        Some(handler) => handler(frame),
        None => tracing::warn!("client: a frame came with no request waiting; dropped"),
    }
}

/// Pipelined: responses come in request order.
pub(crate) struct Pipelined<Resp> {
    pub(crate) waiters: mpsc::UnboundedReceiver<oneshot::Sender<Resp>>,
    pub(crate) unsolicited: Option<Unsolicited<Resp>>,
    pub(crate) counters: Arc<Counters>,
}

impl<Resp> Service<Resp> for Pipelined<Resp> {
    type Response = ();
    type Error = Infallible;
    type Future = Ready<Result<(), Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, response: Resp) -> Self::Future {
        // The waiter of a request is queued before its frame is sent, so the oldest
        // waiter is here by the time its response is.
        match self.waiters.try_recv() {
            Ok(waiter) => {
                if waiter.send(response).is_err() {
                    self.counters.late.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => unsolicited(&self.unsolicited, &self.counters, response),
        }
        std::future::ready(Ok(()))
    }
}

/// Multiplexed: responses come in any order, matched by tag.
pub(crate) struct Multiplexed<Req, Resp> {
    pub(crate) waiters: mpsc::UnboundedReceiver<(u64, oneshot::Sender<Resp>)>,
    pub(crate) pending: HashMap<u64, oneshot::Sender<Resp>>,
    pub(crate) tagger: Arc<dyn Tagger<Req, Resp>>,
    /// Tags whose response was delivered, back to the caller's pool.
    pub(crate) returned: mpsc::UnboundedSender<u64>,
    pub(crate) unsolicited: Option<Unsolicited<Resp>>,
    pub(crate) counters: Arc<Counters>,
}

impl<Req: 'static, Resp: 'static> Service<Resp> for Multiplexed<Req, Resp> {
    type Response = ();
    type Error = Infallible;
    type Future = Ready<Result<(), Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, response: Resp) -> Self::Future {
        while let Ok((tag, waiter)) = self.waiters.try_recv() {
            // A tag reused after its quarantine replaces the abandoned waiter.
            self.pending.insert(tag, waiter);
        }
        match self.tagger.tag_of(&response) {
            None => unsolicited(&self.unsolicited, &self.counters, response),
            Some(tag) => match self.pending.remove(&tag) {
                Some(waiter) => {
                    if waiter.send(response).is_ok() {
                        let _ = self.returned.send(tag);
                    } else {
                        // The caller gave up: its future quarantines the tag.
                        self.counters.late.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {
                    self.counters.unknown_tag.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(tag, "client: a response with an unknown tag; dropped");
                }
            },
        }
        std::future::ready(Ok(()))
    }
}

/// An acceptor that hands out one application, once: the dispatcher of a client.
pub(crate) struct Once<D>(pub(crate) Option<D>);

impl<D> fmt::Debug for Once<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Once").finish_non_exhaustive()
    }
}

impl<D, In, Out> Service<Tendril<In, Out>> for Once<D> {
    type Response = D;
    type Error = BoxError;
    type Future = Ready<Result<D, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _tendril: Tendril<In, Out>) -> Self::Future {
        std::future::ready(self.0.take().ok_or_else(|| "a client connects once".into()))
    }
}
