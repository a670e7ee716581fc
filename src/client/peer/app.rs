//! [`PeerApp`]: the application of every peer connection, always ready: responses
//! routed to their calls as they are decoded, requests and notifications served by a
//! clone of the application each ([`PeerFuture`]), cancels applied.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};

use pin_project_lite::pin_project;
use tower::Service;

use super::classify::{Classify, Kind};
use crate::app::Reply;
use crate::client::flight::{Flight, Routed};
use crate::error::BoxError;
use crate::tendril::IntoFrames;

/// The peer sent a request or notification while `Peer::max_inbound`
/// of its frames were already being served: the connection closes with it (an
/// `Error::is_application` close), rather than stop reading the responses its
/// handlers may be waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerOverload {
    /// The limit.
    pub limit: usize,
}

impl fmt::Display for PeerOverload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the peer sent more than {} requests waiting to be served",
            self.limit
        )
    }
}

impl std::error::Error for PeerOverload {}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere leaves it consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The peer's requests being served: how many, and those a cancel can name.
struct Inbound<K> {
    limit: usize,
    active: AtomicUsize,
    keyed: Mutex<Keyed<K>>,
}

struct Keyed<K> {
    requests: HashMap<K, Running>,
    /// Numbers the requests, so that a key reused by the peer is told apart.
    next: u64,
}

struct Running {
    number: u64,
    cancelled: bool,
    waker: Option<Waker>,
}

/// The application of a peer connection (see `Peer`): always ready; responses
/// routed to their calls at once, requests and notifications served by a clone of the
/// application each, cancels applied.
pub struct PeerApp<C: Classify<F>, F, S> {
    app: S,
    classifier: Arc<C>,
    flight: Arc<Flight<F>>,
    inbound: Arc<Inbound<C::Key>>,
}

impl<C: Classify<F>, F, S> PeerApp<C, F, S> {
    /// Serves a connection with `app`, routing responses into `flight`, at most
    /// `max_inbound` requests at once.
    pub(super) fn new(
        app: S,
        classifier: Arc<C>,
        flight: Arc<Flight<F>>,
        max_inbound: usize,
    ) -> Self {
        PeerApp {
            app,
            classifier,
            flight,
            inbound: Arc::new(Inbound {
                limit: max_inbound,
                active: AtomicUsize::new(0),
                keyed: Mutex::new(Keyed {
                    requests: HashMap::new(),
                    next: 0,
                }),
            }),
        }
    }
}

impl<C: Classify<F>, F, S> fmt::Debug for PeerApp<C, F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerApp")
            .field("serving", &self.inbound.active.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<C: Classify<F>, F, S> Drop for PeerApp<C, F, S> {
    fn drop(&mut self) {
        // The connection is gone: nobody will answer the calls waiting.
        self.flight.close_all();
    }
}

impl<C, F, S> Service<F> for PeerApp<C, F, S>
where
    C: Classify<F>,
    F: Send + 'static,
    S: Service<F, Response: IntoFrames<F>, Error: Into<BoxError>> + Clone,
{
    type Response = Reply<F>;
    type Error = BoxError;
    type Future = PeerFuture<C, F, S>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Never waits: a response must always be read.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, frame: F) -> PeerFuture<C, F, S> {
        let (key, answered) = match self.classifier.classify(&frame) {
            Kind::Response(tag) => {
                if let Routed::Unsolicited(_) = self.flight.route(tag, frame) {
                    tracing::debug!("peer: a response no call waits for; dropped");
                }
                return PeerFuture::done();
            }
            Kind::Cancel(key) => {
                let mut keyed = lock(&self.inbound.keyed);
                if let Some(running) = keyed.requests.get_mut(&key) {
                    running.cancelled = true;
                    if let Some(waker) = running.waker.take() {
                        waker.wake();
                    }
                }
                return PeerFuture::done();
            }
            Kind::Request(key) => (key, true),
            Kind::Notification => (None, false),
        };
        let inbound = self.inbound.clone();
        if inbound.active.fetch_add(1, Ordering::AcqRel) >= inbound.limit {
            inbound.active.fetch_sub(1, Ordering::AcqRel);
            return PeerFuture {
                step: Step::Overload {
                    limit: inbound.limit,
                },
                cancel: None,
                serving: None,
                answered,
            };
        }
        let cancel = key.map(|key| {
            let mut keyed = lock(&inbound.keyed);
            let number = keyed.next;
            keyed.next += 1;
            let running = Running {
                number,
                cancelled: false,
                waker: None,
            };
            keyed.requests.insert(key.clone(), running);
            Cancel {
                key,
                number,
                classifier: self.classifier.clone(),
            }
        });
        PeerFuture {
            step: Step::Ready {
                app: self.app.clone(),
                frame: Some(frame),
            },
            cancel,
            serving: Some(inbound),
            answered,
        }
    }
}

/// A request a cancel can name.
struct Cancel<C: Classify<F>, F> {
    key: C::Key,
    number: u64,
    classifier: Arc<C>,
}

pin_project! {
    #[project = StepProj]
    enum Step<S: Service<F>, F> {
        // Waiting for the application's readiness, the frame in hand.
        Ready { app: S, frame: Option<F> },
        Calling {
            #[pin]
            future: S::Future,
        },
        Overload { limit: usize },
        Done,
    }
}

pin_project! {
    /// The future of one inbound frame of a [`PeerApp`]: done at once for a response
    /// or a cancel; for a request or notification, the application's readiness, then
    /// its call.
    pub struct PeerFuture<C: Classify<F>, F, S: Service<F>> {
        #[pin]
        step: Step<S, F>,
        cancel: Option<Cancel<C, F>>,
        // Counted among the requests served until it ends.
        serving: Option<Arc<Inbound<C::Key>>>,
        // A request (its reply is sent), not a notification.
        answered: bool,
    }

    impl<C: Classify<F>, F, S: Service<F>> PinnedDrop for PeerFuture<C, F, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            finish(this.serving, this.cancel);
        }
    }
}

impl<C: Classify<F>, F, S: Service<F>> PeerFuture<C, F, S> {
    fn done() -> Self {
        PeerFuture {
            step: Step::Done,
            cancel: None,
            serving: None,
            answered: false,
        }
    }
}

/// No longer served: uncounted, and no longer cancellable.
fn finish<C: Classify<F>, F>(
    serving: &mut Option<Arc<Inbound<C::Key>>>,
    cancel: &mut Option<Cancel<C, F>>,
) {
    let Some(inbound) = serving.take() else {
        return;
    };
    if let Some(cancel) = cancel.take() {
        let mut keyed = lock(&inbound.keyed);
        if keyed
            .requests
            .get(&cancel.key)
            .is_some_and(|running| running.number == cancel.number)
        {
            keyed.requests.remove(&cancel.key);
        }
    }
    inbound.active.fetch_sub(1, Ordering::AcqRel);
}

impl<C, F, S> Future for PeerFuture<C, F, S>
where
    C: Classify<F>,
    S: Service<F, Response: IntoFrames<F>, Error: Into<BoxError>>,
{
    type Output = Result<Reply<F>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let (Some(cancel), Some(inbound)) = (this.cancel.as_ref(), this.serving.as_ref()) {
            let mut keyed = lock(&inbound.keyed);
            if let Some(running) = keyed.requests.get_mut(&cancel.key) {
                if running.number == cancel.number {
                    if running.cancelled {
                        drop(keyed);
                        this.step.set(Step::Done);
                        let key = cancel.key.clone();
                        let answer = cancel.classifier.cancelled(key);
                        finish(this.serving, this.cancel);
                        return Poll::Ready(Ok(answer.into_reply()));
                    }
                    if !running
                        .waker
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        running.waker = Some(cx.waker().clone());
                    }
                }
            }
        }
        loop {
            match this.step.as_mut().project() {
                StepProj::Ready { app, frame } => {
                    if let Err(err) = ready!(app.poll_ready(cx)) {
                        finish(this.serving, this.cancel);
                        return Poll::Ready(Err(err.into()));
                    }
                    let Some(frame) = frame.take() else {
                        return Poll::Ready(Ok(Reply::none()));
                    };
                    let future = app.call(frame);
                    this.step.set(Step::Calling { future });
                }
                StepProj::Calling { future } => {
                    let outcome = ready!(future.poll(cx));
                    this.step.set(Step::Done);
                    finish(this.serving, this.cancel);
                    return Poll::Ready(match outcome {
                        Ok(reply) if *this.answered => Ok(reply.into_reply()),
                        Ok(_) => Ok(Reply::none()),
                        Err(err) => Err(err.into()),
                    });
                }
                StepProj::Overload { limit } => {
                    return Poll::Ready(Err(PeerOverload { limit: *limit }.into()));
                }
                StepProj::Done => return Poll::Ready(Ok(Reply::none())),
            }
        }
    }
}
