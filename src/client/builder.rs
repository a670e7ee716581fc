//! [`ClientBuilder`]: a client's mode and bounds, and how it connects.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tower::Service;

use super::dispatch::{Counters, Multiplexed, Once, Pipelined, Unsolicited};
use super::service::Mode;
use super::tags::TagPool;
use super::{Client, Connector, Tagger};
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::manager::Engine;
use crate::tendril::{Addr, ConnectionConfig};
use crate::wrap::{Io, NoWrapper};

/// A client's framers: requests are encoded by the send framer, responses decoded by
/// the receive framer. The same type as the connection's [`FramerSwitch`]`<In, Out>`,
/// named in the client's order (request, response).
pub type ClientFramers<Req, Resp = Req> = FramerSwitch<Resp, Req>;

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
    unsolicited: Option<Unsolicited<Resp>>,
}

impl<Req, Resp> Clone for ClientBuilder<Req, Resp> {
    fn clone(&self) -> Self {
        ClientBuilder {
            correlation: self.correlation.clone(),
            max_in_flight: self.max_in_flight,
            tag_space: self.tag_space,
            quarantine: self.quarantine,
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

    /// Connects to `target` through `connector` (a manager) with `framers` (receive:
    /// responses; send: requests) and returns the client.
    ///
    /// # Errors
    ///
    /// The connector's errors (I/O, wrapper).
    pub async fn connect<C>(
        &self,
        connector: &C,
        target: C::Target,
        framers: ClientFramers<Req, Resp>,
    ) -> Result<Client<Req, Resp>, Error>
    where
        C: Connector<Resp, Req>,
    {
        let (dispatch, mode, counters) = self.prepare();
        let tendril = connector
            .connect(target, Once(Some(dispatch)), framers)
            .await?;
        Ok(Client::new(tendril, mode, self.max_in_flight, counters))
    }

    /// Dials `addr` over TCP, without a manager, and returns the client. The
    /// connection runs on its own task, untracked; its [`Tendril`](crate::Tendril) has
    /// the socket's addresses. Use [`connect`](Self::connect) with a `TcpManager`
    /// to track it, bound it with the manager's settings or wrap it (TLS).
    ///
    /// # Errors
    ///
    /// I/O errors from connecting.
    pub async fn connect_tcp(
        &self,
        addr: SocketAddr,
        framers: ClientFramers<Req, Resp>,
    ) -> Result<Client<Req, Resp>, Error> {
        let stream = TcpStream::connect(addr).await?;
        let local = stream.local_addr()?;
        let remote = stream.peer_addr()?;
        self.run("tcp", stream, local.into(), remote.into(), framers)
            .await
    }

    /// Runs the client over `io`, a stream that is already connected (a
    /// `tokio::io::duplex` end in a test, a socket handed over by other code, a TLS
    /// stream set up elsewhere), without a manager. Its
    /// [`Tendril`](crate::Tendril) has no socket addresses (`local_addr()` and
    /// `remote_addr()` are `None`).
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
        framers: ClientFramers<Req, Resp>,
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
        framers: ClientFramers<Req, Resp>,
    ) -> Result<Client<Req, Resp>, Error> {
        let engine = Engine::new(transport, local.clone(), ConnectionConfig::default(), 1);
        let (dispatch, mode, counters) = self.prepare();
        let tendril = engine
            .connect(io, local, remote, framers, Once(Some(dispatch)), NoWrapper)
            .await?;
        Ok(Client::new(tendril, mode, self.max_in_flight, counters))
    }

    /// The dispatcher the connection runs and the client's half of it.
    fn prepare(&self) -> (Dispatch<Req, Resp>, Mode<Req, Resp>, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let unsolicited = self.unsolicited.clone();
        let (dispatch, mode) = match &self.correlation {
            Correlation::Pipelined => {
                let (waiters, receiver) = mpsc::unbounded_channel();
                let dispatch = Dispatch::Pipelined(Pipelined {
                    waiters: receiver,
                    unsolicited,
                    counters: counters.clone(),
                });
                (dispatch, Mode::Pipelined { waiters })
            }
            Correlation::Multiplexed(tagger) => {
                let (waiters, receiver) = mpsc::unbounded_channel();
                let (returned, returned_rx) = mpsc::unbounded_channel();
                let (abandoned, abandoned_rx) = mpsc::unbounded_channel();
                let dispatch = Dispatch::Multiplexed(Multiplexed {
                    waiters: receiver,
                    pending: HashMap::new(),
                    tagger: tagger.clone(),
                    returned,
                    unsolicited,
                    counters: counters.clone(),
                });
                let tags = TagPool::new(self.tag_space, self.quarantine, returned_rx, abandoned_rx);
                let mode = Mode::Multiplexed {
                    waiters,
                    tagger: tagger.clone(),
                    tags,
                    reserved: None,
                    abandoned,
                };
                (dispatch, mode)
            }
        };
        (dispatch, mode, counters)
    }

    /// A make-service that connects a new client to its target each time it is called,
    /// for `tower::reconnect::Reconnect` (a client whose connection closed fails
    /// `poll_ready`, and `Reconnect` then makes a new one). `framers` makes each
    /// connection's framers.
    pub fn into_maker<C, F>(self, connector: C, framers: F) -> ClientMaker<C, Req, Resp>
    where
        C: Connector<Resp, Req>,
        F: Fn() -> ClientFramers<Req, Resp> + Send + Sync + 'static,
    {
        ClientMaker {
            builder: self,
            connector: Arc::new(connector),
            framers: Arc::new(framers),
        }
    }
}

/// The dispatcher of either mode, as one application type.
pub(crate) enum Dispatch<Req, Resp> {
    Pipelined(Pipelined<Resp>),
    Multiplexed(Multiplexed<Req, Resp>),
}

impl<Req: 'static, Resp: 'static> Service<Resp> for Dispatch<Req, Resp> {
    type Response = ();
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<(), Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, response: Resp) -> Self::Future {
        match self {
            Dispatch::Pipelined(dispatch) => dispatch.call(response),
            Dispatch::Multiplexed(dispatch) => dispatch.call(response),
        }
    }
}

/// Connects a new [`Client`] per call: a make-service for `tower::reconnect` (see
/// [`ClientBuilder::into_maker`]).
pub struct ClientMaker<C, Req, Resp = Req> {
    builder: ClientBuilder<Req, Resp>,
    connector: Arc<C>,
    framers: Arc<dyn Fn() -> FramerSwitch<Resp, Req> + Send + Sync>,
}

impl<C, Req, Resp> Clone for ClientMaker<C, Req, Resp> {
    fn clone(&self) -> Self {
        ClientMaker {
            builder: self.builder.clone(),
            connector: self.connector.clone(),
            framers: self.framers.clone(),
        }
    }
}

impl<C, Req, Resp> fmt::Debug for ClientMaker<C, Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMaker")
            .field("builder", &self.builder)
            .finish_non_exhaustive()
    }
}

impl<C, Req, Resp> Service<C::Target> for ClientMaker<C, Req, Resp>
where
    C: Connector<Resp, Req>,
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Client<Req, Resp>;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Client<Req, Resp>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: C::Target) -> Self::Future {
        let (builder, connector, framers) = (
            self.builder.clone(),
            self.connector.clone(),
            self.framers.clone(),
        );
        Box::pin(async move { builder.connect(&*connector, target, framers()).await })
    }
}
