//! [`Peer`]: one connection that serves and calls. Inbound frames are sorted by a
//! [`Classify`] into requests and notifications (served by the application),
//! responses (handed to the outbound call waiting for them) and cancels; each end gets
//! a [`Client`] that calls the other over the same connection.
//!
//! Responses never wait for the application: [`PeerApp`] is always ready, routes a
//! response as soon as it is decoded, and runs each request on a clone of the
//! application, which waits for the application's readiness in its own future. The
//! connection runs up to [`max_inbound`](Peer::max_inbound) requests at once, replies
//! in completion order, and keeps one more frame's room for reading, so a response
//! is always read, whatever the application's limits and however long its handlers
//! wait on the peer.

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, Ready};
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use pin_project_lite::pin_project;
use tower::Service;

use super::flight::{Flight, Routed};
use super::{Client, ClientBuilder, Tagger};
use crate::app::Reply;
use crate::error::{BoxError, Error};
use crate::framer::FramerSwitch;
use crate::manager::Connect;
use crate::tendril::{IntoFrames, ReplyOrder, Tendril};

/// Default requests (and notifications) from the peer served or waiting at once.
pub const DEFAULT_MAX_INBOUND: usize = 1024;

/// What an inbound frame of a peer connection is: see [`Classify::classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<K> {
    /// A request for the application, answered by its reply; with the key a cancel
    /// would name it by (`None`: it cannot be cancelled).
    Request(Option<K>),
    /// A message for the application that is not answered: its reply is dropped.
    Notification,
    /// The response to one of this end's calls, with the tag the call was sent with
    /// (`None`: a response to nothing this end can name, counted and dropped).
    Response(Option<u64>),
    /// The peer gives up on its request with this key: the request's handler is
    /// dropped and [`Classify::cancelled`] answers it.
    Cancel(K),
}

/// How a peer protocol tells its frames apart and tags its requests (JSON-RPC: a
/// `method` with an `id` is a request, without one a notification, a `result` or
/// `error` a response, `$/cancelRequest` a cancel).
pub trait Classify<F>: Send + Sync + 'static {
    /// What names an inbound request for a cancel (a JSON-RPC id).
    type Key: Eq + Hash + Clone + Send + 'static;

    /// What `frame` is. Called once per inbound frame, before the application sees it.
    fn classify(&self, frame: &F) -> Kind<Self::Key>;

    /// An outbound request with `tag` written into it (a JSON-RPC id); its response
    /// must carry the tag back.
    fn tag(&self, request: F, tag: u64) -> F;

    /// The message telling the peer that this end gave up on its request `tag` (the
    /// call's future dropped, or its response timed out); `None`, the default, sends
    /// nothing.
    fn cancel(&self, tag: u64) -> Option<F> {
        let _ = tag;
        None
    }

    /// The answer to the peer's request `key` that the peer cancelled while it ran
    /// (JSON-RPC: error -32800); `None`, the default, answers nothing.
    fn cancelled(&self, key: Self::Key) -> Option<F> {
        let _ = key;
        None
    }
}

/// The peer's classifier as the client's tagger.
struct Tagging<C>(Arc<C>);

impl<C: Classify<F>, F: Send + 'static> Tagger<F, F> for Tagging<C> {
    fn tag(&self, request: F, tag: u64) -> F {
        self.0.tag(request, tag)
    }

    fn tag_of(&self, response: &F) -> Option<u64> {
        match self.0.classify(response) {
            Kind::Response(tag) => tag,
            _ => None,
        }
    }

    fn cancel(&self, tag: u64) -> Option<F> {
        self.0.cancel(tag)
    }
}

/// The peer sent a request or notification while [`max_inbound`](Peer::max_inbound)
/// of its frames were already being served: the connection closes with it (an
/// [`Error::is_application`] close), rather than stop reading the responses its
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

/// Sets up connections that serve and call: made with the protocol's [`Classify`],
/// then [`acceptor`](Self::acceptor) for a manager's accepted connections or
/// [`connect`](Self::connect) for one connection out.
///
/// ```
/// use bytes::Bytes;
/// use tendril_net::app::service;
/// use tendril_net::client::{Classify, Kind, Peer};
/// use tendril_net::framer::{FramerSwitch, LineFramer};
/// use tendril_net::wrap::NoWrapper;
/// use tendril_net::TcpManager;
/// use tower::{Service, ServiceExt};
///
/// /// `? N text` asks, `! N text` answers, `. text` notifies.
/// struct Lines;
///
/// impl Classify<Bytes> for Lines {
///     type Key = u64;
///     fn classify(&self, frame: &Bytes) -> Kind<u64> {
///         let tag = || std::str::from_utf8(&frame[2..]).ok()?.split(' ').next()?.parse().ok();
///         match frame.first() {
///             Some(b'?') => Kind::Request(tag()),
///             Some(b'!') => Kind::Response(tag()),
///             _ => Kind::Notification,
///         }
///     }
///     fn tag(&self, request: Bytes, tag: u64) -> Bytes {
///         format!("? {tag} {}", String::from_utf8_lossy(&request)).into()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tendril_net::BoxError> {
/// // The server answers `? N name` with `! N hello name`.
/// let server = TcpManager::new("127.0.0.1:0".parse()?);
/// let acceptor = Peer::new(Lines).acceptor(|_caller, _tendril| {
///     service(|frame: Bytes| async move {
///         let text = String::from_utf8_lossy(&frame).into_owned();
///         let mut words = text.splitn(3, ' ').skip(1);
///         let (tag, name) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
///         Ok(format!("! {tag} hello {name}"))
///     })
/// });
/// let addr = server.start_with_framers(acceptor, NoWrapper, || {
///     FramerSwitch::symmetric(LineFramer::new())
/// })?;
///
/// // The client end serves nothing here, and calls the server.
/// let client_manager = TcpManager::new("127.0.0.1:0".parse()?);
/// let nothing = |_caller, _tendril: &_| service(|_frame: Bytes| async { Ok(()) });
/// let mut caller = Peer::new(Lines)
///     .connect(&client_manager, addr, NoWrapper, FramerSwitch::symmetric(LineFramer::new()), nothing)
///     .await?;
/// let answer = caller.ready().await?.call(Bytes::from("world")).await?;
/// assert_eq!(answer, "! 0 hello world");
/// # Ok(()) }
/// ```
pub struct Peer<C, F> {
    classifier: Arc<C>,
    client: ClientBuilder<F, F>,
    max_inbound: usize,
}

impl<C, F> Clone for Peer<C, F> {
    fn clone(&self) -> Self {
        Peer {
            classifier: self.classifier.clone(),
            client: self.client.clone(),
            max_inbound: self.max_inbound,
        }
    }
}

impl<C, F> fmt::Debug for Peer<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("client", &self.client)
            .field("max_inbound", &self.max_inbound)
            .finish_non_exhaustive()
    }
}

impl<C, F> Peer<C, F>
where
    C: Classify<F>,
    F: Send + 'static,
{
    /// Peers speaking the protocol `classifier` describes, with the client's defaults
    /// (64 calls in flight, tags below 65,536, no call timeout) and
    /// [`DEFAULT_MAX_INBOUND`] inbound requests at once.
    pub fn new(classifier: C) -> Self {
        let classifier = Arc::new(classifier);
        Peer {
            client: Client::multiplexed(Tagging(classifier.clone())),
            classifier,
            max_inbound: DEFAULT_MAX_INBOUND,
        }
    }

    /// Calls to the peer awaiting their response at most (default 64); the caller's
    /// `poll_ready` waits beyond it.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.client = self.client.max_in_flight(max);
        self
    }

    /// How long a call waits for its response (default: no limit); see
    /// [`ClientBuilder::call_timeout`].
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.client = self.client.call_timeout(timeout);
        self
    }

    /// Tags are `0..space` (default 65,536); see [`ClientBuilder::tag_space`].
    pub fn tag_space(mut self, space: u64) -> Self {
        self.client = self.client.tag_space(space);
        self
    }

    /// The peer's requests and notifications served (or waiting for the
    /// application's readiness) at once, at most (default 1,024); one more closes the
    /// connection ([`PeerOverload`]).
    pub fn max_inbound(mut self, max: usize) -> Self {
        self.max_inbound = max.max(1);
        self
    }

    /// An acceptor for a manager: each connection gets its caller (a [`Client`] on
    /// that connection) and the application `make` builds from it and the
    /// connection's [`Tendril`] (to send notifications with
    /// [`send_frame`](Tendril::send_frame)). The application must be `Clone`: each
    /// request runs on a clone (`service_fn`, `ConcurrencyLimit`, `Timeout`, `Buffer`
    /// are; a `ConcurrencyLimit`'s clones share its limit).
    pub fn acceptor<M, S>(&self, make: M) -> PeerAcceptor<C, F, M>
    where
        M: Fn(Client<F>, &Tendril<F, F>) -> S,
    {
        PeerAcceptor {
            peer: self.clone(),
            make,
        }
    }

    /// Connects to `target` through `manager` (any manager, with `wrapper` and
    /// `framers` as for [`ClientBuilder::connect`]) and serves the peer's requests
    /// with the application `make` builds, as [`acceptor`](Self::acceptor) does; the
    /// caller is returned (its [`tendril`](Client::tendril) is the connection).
    /// Dropping the caller leaves the connection open: close it through its tendril.
    ///
    /// # Errors
    ///
    /// The manager's errors (see [`Connect::connect_with_framers`]).
    pub async fn connect<Mgr, W, M, S>(
        &self,
        manager: &Mgr,
        target: Mgr::Target,
        wrapper: W,
        framers: FramerSwitch<F, F>,
        make: M,
    ) -> Result<Client<F>, Error>
    where
        Mgr: Connect<W>,
        M: Fn(Client<F>, &Tendril<F, F>) -> S + Send + 'static,
        S: Service<F, Response: IntoFrames<F> + Send, Error: Into<BoxError> + Send>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let caller = Arc::new(Mutex::new(None));
        let slot = caller.clone();
        let acceptor = self.acceptor(move |client: Client<F>, tendril: &Tendril<F, F>| {
            *lock(&slot) = Some(client.clone());
            make(client, tendril)
        });
        manager
            .connect_with_framers(target, acceptor, wrapper, framers)
            .await?;
        let caller = lock(&caller).take();
        caller.ok_or_else(Error::closed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere leaves it consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The acceptor of [`Peer::acceptor`].
pub struct PeerAcceptor<C, F, M> {
    peer: Peer<C, F>,
    make: M,
}

impl<C, F, M> fmt::Debug for PeerAcceptor<C, F, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerAcceptor")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<C, F, M, S> Service<Tendril<F, F>> for PeerAcceptor<C, F, M>
where
    C: Classify<F>,
    F: Send + 'static,
    M: Fn(Client<F>, &Tendril<F, F>) -> S,
{
    type Response = PeerApp<C, F, S>;
    type Error = BoxError;
    type Future = Ready<Result<PeerApp<C, F, S>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, tendril: Tendril<F, F>) -> Self::Future {
        let peer = &self.peer;
        // Room for every request served and one more frame, which may be a response;
        // replies as they complete (each carries its request's key).
        if let Err(err) = tendril.set_pipelining(peer.max_inbound + 1, ReplyOrder::Completion) {
            return std::future::ready(Err(err.into()));
        }
        let flight = peer.client.flight(false);
        let caller = peer.client.client(tendril.clone(), flight.clone());
        let app = (self.make)(caller, &tendril);
        std::future::ready(Ok(PeerApp {
            app,
            classifier: peer.classifier.clone(),
            flight,
            inbound: Arc::new(Inbound {
                limit: peer.max_inbound,
                active: AtomicUsize::new(0),
                keyed: Mutex::new(Keyed {
                    requests: HashMap::new(),
                    next: 0,
                }),
            }),
        }))
    }
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

/// The application of a peer connection (see [`Peer`]): always ready; responses
/// routed to their calls at once, requests and notifications served by a clone of the
/// application each, cancels applied.
pub struct PeerApp<C: Classify<F>, F, S> {
    app: S,
    classifier: Arc<C>,
    flight: Arc<Flight<F>>,
    inbound: Arc<Inbound<C::Key>>,
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
