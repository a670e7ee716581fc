//! [`ClientBuilder`]: a client's mode and bounds, and how it connects.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::net::TcpStream;
use tower::Service;

use super::dispatch::{Dispatch, Once, Unsolicited};
use super::flight::Flight;
use super::tags::Tags;
use super::{Client, Tagger};
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::manager::{Bounds, Connect, Engine};
use crate::tendril::{Addr, ConnectionConfig, Tendril};
use crate::wrap::{Io, NoWrapper};

/// Default requests in flight per client.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Default tag space of the multiplexed mode: tags 0 to 65,535 (a DNS ID).
pub const DEFAULT_TAG_SPACE: u64 = 1 << 16;

/// Default quarantine of an abandoned request's tag.
pub const DEFAULT_TAG_QUARANTINE: Duration = Duration::from_secs(30);

enum Correlation<Req, Resp> {
    Pipelined,
    Multiplexed(Arc<dyn Tagger<Req, Resp>>),
}

impl<Req, Resp> Clone for Correlation<Req, Resp> {
    fn clone(&self) -> Self {
        match self {
            Correlation::Pipelined => Correlation::Pipelined,
            Correlation::Multiplexed(tagger) => Correlation::Multiplexed(tagger.clone()),
        }
    }
}

/// How a [`Client`] correlates responses, its bounds, and its unsolicited handler; then
/// [`connect`](Self::connect) (or [`into_maker`](Self::into_maker) for
/// `tower::reconnect`).
///
/// Defaults: 64 requests in flight; multiplexed, tags below 65,536 and a 30 s
/// quarantine for the tag of a request given up on (a timeout), so that its late
/// answer cannot be taken for the answer to a newer request.
#[must_use = "a builder setter returns the updated builder"]
pub struct ClientBuilder<Req, Resp = Req> {
    correlation: Correlation<Req, Resp>,
    max_in_flight: usize,
    tag_space: u64,
    quarantine: Duration,
    call_timeout: Option<Duration>,
    unsolicited: Option<Unsolicited<Resp>>,
}

impl<Req, Resp> Clone for ClientBuilder<Req, Resp> {
    fn clone(&self) -> Self {
        ClientBuilder {
            correlation: self.correlation.clone(),
            max_in_flight: self.max_in_flight,
            tag_space: self.tag_space,
            quarantine: self.quarantine,
            call_timeout: self.call_timeout,
            unsolicited: self.unsolicited.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for ClientBuilder<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.correlation {
            Correlation::Pipelined => "pipelined",
            Correlation::Multiplexed(_) => "multiplexed",
        };
        f.debug_struct("ClientBuilder")
            .field("mode", &mode)
            .field("max_in_flight", &self.max_in_flight)
            .field("tag_space", &self.tag_space)
            .field("quarantine", &self.quarantine)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Client<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    /// A pipelined client: many requests in flight on one connection, responses in
    /// request order (line protocols, SMTP-like, Redis-like).
    pub fn pipelined() -> ClientBuilder<Req, Resp> {
        ClientBuilder::new(Correlation::Pipelined)
    }

    /// A multiplexed client: each request carries a tag (written by `tagger`), and
    /// responses may come in any order (DNS IDs, most binary RPC). A response with a
    /// tag no request holds is counted and dropped.
    pub fn multiplexed(tagger: impl Tagger<Req, Resp>) -> ClientBuilder<Req, Resp> {
        ClientBuilder::new(Correlation::Multiplexed(Arc::new(tagger)))
    }
}

impl<Req, Resp> ClientBuilder<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    fn new(correlation: Correlation<Req, Resp>) -> Self {
        ClientBuilder {
            correlation,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            tag_space: DEFAULT_TAG_SPACE,
            quarantine: DEFAULT_TAG_QUARANTINE,
            call_timeout: None,
            unsolicited: None,
        }
    }

    /// Requests awaiting their response at most (default 64); `poll_ready` waits
    /// beyond it.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// Multiplexed: tags are `0..space` (default 65,536). A call waits in
    /// `poll_ready` while every tag is held.
    pub fn tag_space(mut self, space: u64) -> Self {
        self.tag_space = space.max(1);
        self
    }

    /// Multiplexed: how long the tag of a request given up on stays out of use
    /// (default 30 s).
    pub fn tag_quarantine(mut self, quarantine: Duration) -> Self {
        self.quarantine = quarantine;
        self
    }

    /// How long a call waits for its response (default: as long as the connection
    /// lives). Past it the call fails with [`Error::is_timeout`] (the cause a
    /// [`ResponseTimeout`](super::ResponseTimeout)) and the request is given up on as
    /// if its future were dropped: multiplexed, its slot is free at once, its tag
    /// quarantined and the tagger's [`cancel`](Tagger::cancel) message sent;
    /// pipelined, its slot is held until its response arrives. One timer per call
    /// while it waits (none without a timeout).
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Calls `handler` with every frame no request waits for: in pipelined mode, a
    /// frame that arrives when no request is in flight; in multiplexed mode, a response
    /// without a tag. Without a handler they are counted
    /// ([`ClientStats::unsolicited`](super::ClientStats)) and logged.
    pub fn on_unsolicited<F>(mut self, handler: F) -> Self
    where
        F: Fn(Resp) + Send + Sync + 'static,
    {
        self.unsolicited = Some(Arc::new(handler));
        self
    }

    /// Connects to `target` through `manager` (any manager: TCP, Unix, UDP, a
    /// plug-in's) and `wrapper` ([`NoWrapper`] for none, a `TlsClient`), with
    /// `framers` (a client's connection receives responses and sends requests: its
    /// framers are `FramerSwitch<Resp, Req>`), and returns the client.
    ///
    /// # Errors
    ///
    /// The manager's errors (I/O, wrapper; see [`Connect::connect_with_framers`]).
    pub async fn connect<M, W>(
        &self,
        manager: &M,
        target: M::Target,
        wrapper: W,
        framers: FramerSwitch<Resp, Req>,
    ) -> Result<Client<Req, Resp>, Error>
    where
        M: Connect<W>,
    {
        let (dispatch, flight) = self.prepare();
        let tendril = manager
            .connect_with_framers(target, Once(Some(dispatch)), wrapper, framers)
            .await?;
        Ok(self.client(tendril, flight))
    }

    /// Dials `addr` over TCP, without a manager, and returns the client. The
    /// connection runs on its own task, untracked; its [`Tendril`](crate::Tendril) has
    /// the socket's addresses. Use [`connect`](Self::connect) with a `TcpManager`
    /// to track it, bound it with the manager's settings or wrap it (TLS).
    ///
    /// # Errors
    ///
    /// I/O errors from connecting, naming the address ([`Error::connect`]).
    pub async fn connect_tcp(
        &self,
        addr: SocketAddr,
        framers: FramerSwitch<Resp, Req>,
    ) -> Result<Client<Req, Resp>, Error> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|err| Error::connect(format_args!("tcp {addr}"), err))?;
        let local = stream.local_addr()?;
        let remote = stream.peer_addr()?;
        self.run("tcp", stream, local.into(), remote.into(), framers)
            .await
    }

    /// Runs the client over `io`, a stream that is already connected (a
    /// `tokio::io::duplex` end in a test, a socket handed over by other code, a TLS
    /// stream set up elsewhere), without a manager. Its
    /// [`Tendril`](crate::Tendril) has no socket addresses (`local()` and `remote()`
    /// are unnamed).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use tendril_net::client::Client;
    /// use tendril_net::framer::{FramerSwitch, LineFramer};
    /// use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    /// use tower::{Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tendril_net::BoxError> {
    /// let (ours, theirs) = tokio::io::duplex(1024);
    /// // The other end: a server answering each line in upper case.
    /// tokio::spawn(async move {
    ///     let (read, mut write) = tokio::io::split(theirs);
    ///     let mut lines = BufReader::new(read).lines();
    ///     while let Ok(Some(line)) = lines.next_line().await {
    ///         write.write_all(format!("{}\r\n", line.to_uppercase()).as_bytes()).await?;
    ///     }
    ///     Ok::<_, std::io::Error>(())
    /// });
    /// let mut client = Client::<Bytes>::pipelined()
    ///     .over(ours, FramerSwitch::symmetric(LineFramer::new()))
    ///     .await?;
    /// let answer = client.ready().await?.call(Bytes::from("hello")).await?;
    /// assert_eq!(answer, "HELLO");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// None in practice (the connection starts on its own task); the signature matches
    /// [`connect`](Self::connect).
    pub async fn over<I: Io>(
        &self,
        io: I,
        framers: FramerSwitch<Resp, Req>,
    ) -> Result<Client<Req, Resp>, Error> {
        self.run("stream", io, Addr::Unnamed(0), Addr::Unnamed(1), framers)
            .await
    }

    /// Runs the client's connection on `io` on an engine of its own.
    async fn run<I: Io>(
        &self,
        transport: &str,
        io: I,
        local: Addr,
        remote: Addr,
        framers: FramerSwitch<Resp, Req>,
    ) -> Result<Client<Req, Resp>, Error> {
        let bounds = Bounds::new(1, None);
        let engine = Engine::new(
            transport,
            local.clone(),
            ConnectionConfig::default(),
            bounds,
        );
        let (dispatch, flight) = self.prepare();
        let tendril = engine
            .connect(io, local, remote, framers, Once(Some(dispatch)), NoWrapper)
            .await?;
        Ok(self.client(tendril, flight))
    }

    /// The dispatcher the connection runs, and the flight it shares with the client.
    fn prepare(&self) -> (Dispatch<Req, Resp>, Arc<Flight<Resp>>) {
        // Until the connection exists, closing it is the dispatcher's own drop.
        let flight = self.flight(true);
        let dispatch = Dispatch {
            flight: flight.clone(),
            tagger: self.tagger(),
            unsolicited: self.unsolicited.clone(),
        };
        (dispatch, flight)
    }

    /// A flight with this builder's bounds and tags.
    pub(super) fn flight(&self, close_when_dropped: bool) -> Arc<Flight<Resp>> {
        let tags = match &self.correlation {
            Correlation::Pipelined => None,
            Correlation::Multiplexed(_) => Some(Tags::new(self.tag_space, self.quarantine)),
        };
        Arc::new(Flight::new(self.max_in_flight, tags, close_when_dropped))
    }

    fn tagger(&self) -> Option<Arc<dyn Tagger<Req, Resp>>> {
        match &self.correlation {
            Correlation::Pipelined => None,
            Correlation::Multiplexed(tagger) => Some(tagger.clone()),
        }
    }

    /// The client over `tendril`, its connection, sending through `flight`.
    pub(super) fn client(
        &self,
        tendril: Tendril<Resp, Req>,
        flight: Arc<Flight<Resp>>,
    ) -> Client<Req, Resp> {
        flight.attach(&tendril, self.tagger());
        Client::new(tendril, flight, self.tagger(), self.call_timeout)
    }

    /// A make-service that connects a new client to its target each time it is called,
    /// for `tower::reconnect::Reconnect` (a client whose connection closed fails
    /// `poll_ready`, and `Reconnect` then makes a new one): through `manager` and a
    /// clone of `wrapper` each time, with the framers `framers` makes.
    pub fn into_maker<M, W, F>(
        self,
        manager: M,
        wrapper: W,
        framers: F,
    ) -> ClientMaker<M, W, Req, Resp>
    where
        M: Connect<W>,
        W: Clone + Send + Sync + 'static,
        F: Fn() -> FramerSwitch<Resp, Req> + Send + Sync + 'static,
    {
        ClientMaker {
            builder: self,
            manager,
            wrapper,
            framers: Arc::new(framers),
        }
    }
}

/// Connects a new [`Client`] per call: a make-service for `tower::reconnect` (see
/// [`ClientBuilder::into_maker`]).
pub struct ClientMaker<M, W, Req, Resp = Req> {
    builder: ClientBuilder<Req, Resp>,
    manager: M,
    wrapper: W,
    framers: Arc<dyn Fn() -> FramerSwitch<Resp, Req> + Send + Sync>,
}

impl<M: Clone, W: Clone, Req, Resp> Clone for ClientMaker<M, W, Req, Resp> {
    fn clone(&self) -> Self {
        ClientMaker {
            builder: self.builder.clone(),
            manager: self.manager.clone(),
            wrapper: self.wrapper.clone(),
            framers: self.framers.clone(),
        }
    }
}

impl<M, W, Req, Resp> fmt::Debug for ClientMaker<M, W, Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMaker")
            .field("builder", &self.builder)
            .finish_non_exhaustive()
    }
}

impl<M, W, Req, Resp> Service<M::Target> for ClientMaker<M, W, Req, Resp>
where
    M: Connect<W>,
    W: Clone + Send + Sync + 'static,
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Client<Req, Resp>;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Client<Req, Resp>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: M::Target) -> Self::Future {
        let (builder, manager, wrapper, framers) = (
            self.builder.clone(),
            self.manager.clone(),
            self.wrapper.clone(),
            self.framers.clone(),
        );
        Box::pin(async move { builder.connect(&manager, target, wrapper, framers()).await })
    }
}
