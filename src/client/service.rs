//! [`Client`]: a connection as a `tower::Service` from a request frame to its response.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Sleep;
use tower::Service;

use super::flight::{Closing, Flight, Permit, Wait};
use super::stats::ClientStats;
use super::Tagger;
use crate::error::Error;
use crate::tendril::{CloseReason, Tendril};

/// A connection as a `tower::Service`: each call sends a request frame and resolves to
/// the response frame that answers it.
///
/// Made by [`Client::pipelined`] (responses in request order) or
/// [`Client::multiplexed`] (responses in any order, matched by a tag). `poll_ready`
/// takes one permit: a slot under `max_in_flight` and, multiplexed, a free tag; it is
/// pending while there is none, and fails once the connection is closed, with the
/// close reason, so `tower::reconnect` can make a new one (see
/// [`ClientBuilder::into_maker`](super::ClientBuilder::into_maker)). When the
/// connection closes, every pending request fails with the close reason
/// ([`Error::is_closed`]); none hangs.
///
/// Each response must decode as **one frame** of the connection's receive framer:
/// the client matches frames to requests one to one, so a reply of several lines (a
/// memcached `VALUE ... END`, an SMTP multi-line reply) needs a framer that cuts the
/// whole reply as one frame.
///
/// A client is `Clone`: the clones share the connection, its bound on requests in
/// flight and its tags; each clone takes its own permit in `poll_ready`, so clones
/// used from several tasks wait for room independently. A pipelined request's
/// response is matched by the order its frame reached the connection, whichever clone
/// sent it. Behind middleware (`Timeout`, `Buffer`) a call's error is a `BoxError`;
/// [`Error::find`] tells whether the connection closed
/// (`Error::find(&*err).is_some_and(Error::is_closed)`). Dropping the last clone
/// closes the connection once the last response in flight is in (or its future is
/// dropped); a peer's client ([`crate::client::Peer`]) leaves it open, since the
/// connection also serves.
///
/// With [`call_timeout`](super::ClientBuilder::call_timeout) set, a response that has
/// not come within it fails the call ([`Error::is_timeout`], the cause a
/// [`ResponseTimeout`]); the request is then given up on as if its future were dropped.
pub struct Client<Req, Resp = Req> {
    tendril: Tendril<Resp, Req>,
    flight: Arc<Flight<Resp>>,
    /// Multiplexed: writes the tag into a request.
    tagger: Option<Arc<dyn Tagger<Req, Resp>>>,
    /// What `poll_ready` reserved for `call`.
    permit: Option<Permit>,
    /// How long a response may take.
    timeout: Option<Duration>,
    /// Wakes `poll_ready` when a quarantined tag is free again.
    release: Option<Pin<Box<Sleep>>>,
    closing: Option<Closing>,
}

impl<Req, Resp> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.tagger {
            None => "pipelined",
            Some(_) => "multiplexed",
        };
        f.debug_struct("Client")
            .field("mode", &mode)
            .field("tendril", &self.tendril)
            .field("in_flight", &self.flight.in_flight())
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Client<Req, Resp> {
    pub(crate) fn new(
        tendril: Tendril<Resp, Req>,
        flight: Arc<Flight<Resp>>,
        tagger: Option<Arc<dyn Tagger<Req, Resp>>>,
        timeout: Option<Duration>,
    ) -> Self {
        Client {
            tendril,
            flight,
            tagger,
            permit: None,
            timeout,
            release: None,
            closing: None,
        }
    }

    /// The connection.
    pub fn tendril(&self) -> &Tendril<Resp, Req> {
        &self.tendril
    }

    /// Requests sent and not yet answered (or given up), and permits reserved.
    pub fn in_flight(&self) -> usize {
        self.flight.in_flight()
    }

    /// The client's counters: unsolicited frames, unknown tags, late responses.
    pub fn stats(&self) -> ClientStats {
        self.flight.stats()
    }

    /// Ready with the error once the connection's close reason is known.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let closing = self.closing.get_or_insert_with(|| self.flight.closed());
        let reason = ready!(closing.as_mut().poll(cx));
        Poll::Ready(Err(Error::closed_by(reason)))
    }
}

impl<Req, Resp> Clone for Client<Req, Resp> {
    /// Another handle on the same connection, with no permit of its own yet.
    fn clone(&self) -> Self {
        self.flight.clone_client();
        Client {
            tendril: self.tendril.clone(),
            flight: self.flight.clone(),
            tagger: self.tagger.clone(),
            permit: None,
            timeout: self.timeout,
            release: None,
            closing: None,
        }
    }
}

impl<Req, Resp> Drop for Client<Req, Resp> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.flight.release(permit);
        }
        self.flight.drop_client();
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
        if self.closing.is_some() {
            return self.poll_closed(cx);
        }
        loop {
            match self.flight.poll_acquire(cx, self.permit.is_some()) {
                Ok(permit) => {
                    if permit.is_some() {
                        self.permit = permit;
                        self.release = None;
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(Wait::Closed) => return self.poll_closed(cx),
                Err(Wait::Slot) => return Poll::Pending,
                Err(Wait::Release(at)) => {
                    // Only quarantined tags: wake when the oldest is free again.
                    let release = self
                        .release
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    release.as_mut().reset(at);
                    ready!(release.as_mut().poll(cx));
                }
            }
        }
    }

    fn call(&mut self, request: Req) -> ResponseFuture<Resp> {
        let Some(permit) = self.permit.take() else {
            return ResponseFuture::failed(Error::config("Client::call without poll_ready"));
        };
        let (waiter, response) = oneshot::channel();
        let tag = permit.tag;
        let frame = match (&self.tagger, tag) {
            (Some(tagger), Some(tag)) => tagger.tag(request, tag),
            _ => request,
        };
        // The permit bounds what this queues, whatever the queue's room.
        let tendril = &self.tendril;
        if let Err(err) = self
            .flight
            .send(permit, waiter, || tendril.send_permitted(frame))
        {
            return ResponseFuture::failed(err);
        }
        ResponseFuture {
            state: State::Waiting(response),
            flight: Some(self.flight.clone()),
            tag,
            deadline: self
                .timeout
                .map(|after| (after, Box::pin(tokio::time::sleep(after)))),
        }
    }
}

enum State<Resp> {
    Waiting(oneshot::Receiver<Resp>),
    Closing(Closing),
    Failed(Option<Error>),
    Done,
}

/// A response did not come within the client's
/// [`call_timeout`](super::ClientBuilder::call_timeout) (the cause of an
/// [`Error::is_timeout`] error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseTimeout {
    /// The timeout.
    pub after: Duration,
}

impl ResponseTimeout {
    /// No response within `after`: for a client of another crate's making (a
    /// stream-per-request one) to say it the same way.
    pub fn new(after: Duration) -> Self {
        ResponseTimeout { after }
    }
}

impl fmt::Display for ResponseTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no response within {:?}", self.after)
    }
}

impl std::error::Error for ResponseTimeout {}

/// The response to one [`Client`] request.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<Resp> {
    state: State<Resp>,
    /// Told when the future completes or is dropped.
    flight: Option<Arc<Flight<Resp>>>,
    /// Multiplexed: the request's tag, quarantined if the request is abandoned.
    tag: Option<u64>,
    /// The client's call timeout, and when it runs out.
    deadline: Option<(Duration, Pin<Box<Sleep>>)>,
}

impl<Resp> fmt::Debug for ResponseFuture<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl<Resp> ResponseFuture<Resp> {
    fn failed(err: Error) -> Self {
        ResponseFuture {
            state: State::Failed(Some(err)),
            flight: None,
            tag: None,
            deadline: None,
        }
    }

    /// The request is given up on (dropped, or its response late). Exactly one side
    /// frees the tag: the dispatcher if it delivered, the quarantine if it did not.
    fn give_up(&mut self) {
        if let Some(flight) = self.flight.take() {
            let waiting = match &mut self.state {
                State::Waiting(response) => Some(response),
                _ => None,
            };
            flight.finish(self.tag, waiting);
        }
        self.state = State::Done;
    }

    /// Done: the flight is told.
    fn finish(&mut self) {
        self.state = State::Done;
        if let Some(flight) = self.flight.take() {
            flight.finish(self.tag, None);
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
                State::Waiting(response) => match Pin::new(response).poll(cx) {
                    Poll::Pending => {
                        let Some((after, sleep)) = &mut this.deadline else {
                            return Poll::Pending;
                        };
                        ready!(sleep.as_mut().poll(cx));
                        let after = *after;
                        this.give_up();
                        return Poll::Ready(Err(Error::timeout(ResponseTimeout::new(after))));
                    }
                    Poll::Ready(Ok(response)) => {
                        this.finish();
                        return Poll::Ready(Ok(response));
                    }
                    Poll::Ready(Err(_)) => {
                        // The connection is gone, and its waiters with it.
                        let closed = match &this.flight {
                            Some(flight) => flight.closed(),
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
        self.give_up();
    }
}
