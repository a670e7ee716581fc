//! [`Peer`]: how a connection that serves and calls is set up, from either end, and
//! the acceptor it gives a manager.

use std::fmt;
use std::future::Ready;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tower::Service;

use super::app::{lock, PeerApp};
use super::classify::{Classify, Tagging};
use crate::client::{Client, ClientBuilder};
use crate::error::{BoxError, Error};
use crate::framer::FramerSwitch;
use crate::manager::Connect;
use crate::tendril::{IntoFrames, ReplyOrder, Tendril};

/// Default requests (and notifications) from the peer served or waiting at once.
pub const DEFAULT_MAX_INBOUND: usize = 1024;

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
    /// connection ([`PeerOverload`](super::PeerOverload)).
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
        let classifier = peer.classifier.clone();
        std::future::ready(Ok(PeerApp::new(app, classifier, flight, peer.max_inbound)))
    }
}
