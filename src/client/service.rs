//! [`Client`]: a connection as a `tower::Service` from a request frame to its response.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::task::AtomicWaker;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tower::Service;

use super::dispatch::{ClientStats, Counters};
use super::tags::TagPool;
use super::Tagger;
use crate::error::Error;
use crate::tendril::{CloseReason, Tendril};

/// Set in [`Flight::state`] once the client is dropped.
const DROPPED: usize = 1 << (usize::BITS - 1);

/// Requests in flight, shared by the client and its response futures: the bound's
/// wake-up, and closing the connection once the client is dropped and the last
/// response is in.
struct Flight {
    /// Requests in flight, with [`DROPPED`].
    state: AtomicUsize,
    max: usize,
    waker: AtomicWaker,
    close: Box<dyn Fn() + Send + Sync>,
    closed: Box<dyn Fn() -> BoxFuture<'static, CloseReason> + Send + Sync>,
}

impl Flight {
    fn in_flight(&self) -> usize {
        self.state.load(Ordering::Acquire) & !DROPPED
    }

    fn release(&self) {
        let before = self.state.fetch_sub(1, Ordering::AcqRel);
        if before == DROPPED | 1 {
            (self.close)();
        } else if before & !DROPPED == self.max {
            self.waker.wake();
        }
    }
}

pub(crate) enum Mode<Req, Resp> {
    Pipelined {
        waiters: mpsc::UnboundedSender<oneshot::Sender<Resp>>,
    },
    Multiplexed {
        waiters: mpsc::UnboundedSender<(u64, oneshot::Sender<Resp>)>,
        tagger: Arc<dyn Tagger<Req, Resp>>,
        tags: TagPool,
        /// The tag `poll_ready` reserved for the next call.
        reserved: Option<u64>,
        abandoned: mpsc::UnboundedSender<(u64, Instant)>,
    },
}

/// A connection as a `tower::Service`: each call sends a request frame and resolves to
/// the response frame that answers it.
///
/// Made by [`Client::pipelined`] (responses in request order) or
/// [`Client::multiplexed`] (responses in any order, matched by a tag). `poll_ready`
/// is pending while `max_in_flight` requests await their response, while the
/// connection's outbound queue is full, or (multiplexed) while no tag is free; it fails
/// once the connection is closed, with the close reason, so `tower::reconnect` can
/// make a new one (see [`ClientBuilder::into_maker`](super::ClientBuilder::into_maker)).
/// When the connection closes, every pending request fails with the close reason
/// ([`Error::is_closed`]); none hangs.
///
/// A client is not `Clone`, so requests reach the wire in call order; share one
/// through `tower::buffer::Buffer`. Dropping it closes the connection once the last
/// response in flight is in (or its future is dropped).
pub struct Client<Req, Resp = Req> {
    tendril: Tendril<Resp, Req>,
    mode: Mode<Req, Resp>,
    /// `poll_ready` reserved room in the connection's outbound queue for `call`.
    reserved: bool,
    flight: Arc<Flight>,
    counters: Arc<Counters>,
    closing: Option<BoxFuture<'static, CloseReason>>,
}

impl<Req, Resp> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Pipelined { .. } => "pipelined",
            Mode::Multiplexed { .. } => "multiplexed",
        };
        f.debug_struct("Client")
            .field("mode", &mode)
            .field("tendril", &self.tendril)
            .field("in_flight", &self.flight.in_flight())
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Client<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    pub(crate) fn new(
        tendril: Tendril<Resp, Req>,
        mode: Mode<Req, Resp>,
        max_in_flight: usize,
        counters: Arc<Counters>,
    ) -> Self {
        let (close, closed) = (tendril.clone(), tendril.clone());
        let flight = Flight {
            state: AtomicUsize::new(0),
            max: max_in_flight.max(1),
            waker: AtomicWaker::new(),
            close: Box::new(move || close.close()),
            closed: Box::new(move || Box::pin(closed.closed())),
        };
        Client {
            tendril,
            mode,
            reserved: false,
            flight: Arc::new(flight),
            counters,
            closing: None,
        }
    }
}

impl<Req, Resp> Client<Req, Resp> {
    /// The connection.
    pub fn tendril(&self) -> &Tendril<Resp, Req> {
        &self.tendril
    }

    /// Requests sent and not yet answered (or given up).
    pub fn in_flight(&self) -> usize {
        self.flight.in_flight()
    }

    /// The client's counters: unsolicited frames, unknown tags, late responses.
    pub fn stats(&self) -> ClientStats {
        self.counters.snapshot()
    }

    /// Ready with the error once the connection's close reason is known.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let closing = self.closing.get_or_insert_with(|| (self.flight.closed)());
        let reason = ready!(closing.as_mut().poll(cx));
        Poll::Ready(Err(Error::closed_by(reason)))
    }

    fn dispatcher_gone(&self) -> bool {
        match &self.mode {
            Mode::Pipelined { waiters } => waiters.is_closed(),
            Mode::Multiplexed { waiters, .. } => waiters.is_closed(),
        }
    }
}

impl<Req, Resp> Drop for Client<Req, Resp> {
    fn drop(&mut self) {
        if self.reserved {
            self.tendril.unreserve();
        }
        let before = self.flight.state.fetch_or(DROPPED, Ordering::AcqRel);
        if before == 0 {
            (self.flight.close)();
        }
    }
}

impl<Req, Resp> Service<Req> for Client<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = Error;
    type Future = ResponseFuture<Resp>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.closing.is_some() || self.dispatcher_gone() {
            return self.poll_closed(cx);
        }
        if self.flight.in_flight() >= self.flight.max {
            self.flight.waker.register(cx.waker());
            if self.flight.in_flight() >= self.flight.max {
                return Poll::Pending;
            }
        }
        if !self.reserved {
            match ready!(self.tendril.poll_reserve(cx)) {
                Ok(()) => self.reserved = true,
                // The connection closed its queue: it is gone.
                Err(_) => return self.poll_closed(cx),
            }
        }
        if let Mode::Multiplexed { tags, reserved, .. } = &mut self.mode {
            if reserved.is_none() {
                *reserved = Some(ready!(tags.poll_take(cx)));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> ResponseFuture<Resp> {
        if !std::mem::take(&mut self.reserved) {
            return ResponseFuture::failed(Error::config("Client::call without poll_ready"));
        }
        let (waiter, response) = oneshot::channel();
        let (frame, tag) = match &mut self.mode {
            Mode::Pipelined { waiters } => {
                if waiters.send(waiter).is_err() {
                    self.tendril.unreserve();
                    return ResponseFuture::failed(Error::closed());
                }
                (request, None)
            }
            Mode::Multiplexed {
                waiters,
                tagger,
                tags,
                reserved,
                abandoned,
            } => {
                let Some(tag) = reserved.take() else {
                    self.reserved = true;
                    return ResponseFuture::failed(Error::config(
                        "Client::call without poll_ready",
                    ));
                };
                if waiters.send((tag, waiter)).is_err() {
                    tags.put_back(tag);
                    self.tendril.unreserve();
                    return ResponseFuture::failed(Error::closed());
                }
                (tagger.tag(request, tag), Some((tag, abandoned.clone())))
            }
        };
        // The waiter is queued before the frame, so the response always finds it.
        if let Err(err) = self.tendril.send_reserved(frame) {
            return ResponseFuture::failed(err);
        }
        self.flight.state.fetch_add(1, Ordering::AcqRel);
        ResponseFuture {
            state: State::Waiting(response),
            flight: Some(self.flight.clone()),
            tag,
        }
    }
}

enum State<Resp> {
    Waiting(oneshot::Receiver<Resp>),
    Closing(BoxFuture<'static, CloseReason>),
    Failed(Option<Error>),
    Done,
}

/// The response to one [`Client`] request.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<Resp> {
    state: State<Resp>,
    /// Released when the future completes or is dropped.
    flight: Option<Arc<Flight>>,
    /// Multiplexed: the request's tag, quarantined if the request is abandoned.
    tag: Option<(u64, mpsc::UnboundedSender<(u64, Instant)>)>,
}

impl<Resp> fmt::Debug for ResponseFuture<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("tag", &self.tag.as_ref().map(|(tag, _)| tag))
            .finish_non_exhaustive()
    }
}

impl<Resp> ResponseFuture<Resp> {
    fn failed(err: Error) -> Self {
        ResponseFuture {
            state: State::Failed(Some(err)),
            flight: None,
            tag: None,
        }
    }

    fn finish(&mut self) {
        self.state = State::Done;
        if let Some(flight) = self.flight.take() {
            flight.release();
        }
    }
}

impl<Resp> Unpin for ResponseFuture<Resp> {}

impl<Resp> Future for ResponseFuture<Resp> {
    type Output = Result<Resp, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Waiting(response) => match ready!(Pin::new(response).poll(cx)) {
                    Ok(response) => {
                        // Delivered: the dispatcher returned the tag.
                        this.tag = None;
                        this.finish();
                        return Poll::Ready(Ok(response));
                    }
                    Err(_) => {
                        // The connection is gone, and its waiters with it.
                        this.tag = None;
                        let closed = match &this.flight {
                            Some(flight) => (flight.closed)(),
                            None => Box::pin(async { CloseReason::Local }),
                        };
                        this.state = State::Closing(closed);
                    }
                },
                State::Closing(closed) => {
                    let reason = ready!(closed.as_mut().poll(cx));
                    this.finish();
                    return Poll::Ready(Err(Error::closed_by(reason)));
                }
                State::Failed(err) => {
                    let err = err.take().unwrap_or_else(Error::closed);
                    this.finish();
                    return Poll::Ready(Err(err));
                }
                State::Done => return Poll::Ready(Err(Error::closed())),
            }
        }
    }
}

impl<Resp> Drop for ResponseFuture<Resp> {
    fn drop(&mut self) {
        if let (State::Waiting(response), Some((tag, abandoned))) = (&mut self.state, &self.tag) {
            // Exactly one side frees the tag: the dispatcher if it delivered, this
            // future (through the quarantine) if it did not.
            response.close();
            if response.try_recv().is_err() {
                let _ = abandoned.send((*tag, Instant::now()));
            }
        }
        if let Some(flight) = self.flight.take() {
            flight.release();
        }
    }
}
