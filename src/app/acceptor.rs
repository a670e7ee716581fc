//! Acceptors: make-services that build one application per connection.

use std::fmt;
use std::future::{ready, Future, Ready};
use std::task::{Context, Poll};

use tower::Service;

use crate::error::BoxError;
use crate::tendril::Tendril;

/// The error an acceptor returns to refuse a connection: it is closed quietly (no
/// frame is read) and counted as rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectConnection {
    reason: Option<String>,
}

impl RejectConnection {
    /// A rejection without a stated reason.
    pub fn new() -> Self {
        RejectConnection { reason: None }
    }

    /// A rejection with a reason, recorded in the connection's trace events.
    pub fn because(reason: impl Into<String>) -> Self {
        RejectConnection {
            reason: Some(reason.into()),
        }
    }

    /// The stated reason, if any.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl fmt::Display for RejectConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Some(reason) => write!(f, "connection rejected: {reason}"),
            None => f.write_str("connection rejected"),
        }
    }
}

impl std::error::Error for RejectConnection {}

/// True if an acceptor's error is a [`RejectConnection`] (a refusal rather than a
/// failure).
pub(crate) fn is_rejection(err: &BoxError) -> bool {
    err.downcast_ref::<RejectConnection>().is_some()
}

/// A synchronous closure as an acceptor: see [`acceptor_fn`].
#[derive(Clone)]
pub struct AcceptorFn<F> {
    f: F,
}

impl<F> fmt::Debug for AcceptorFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptorFn").finish_non_exhaustive()
    }
}

/// Turns a closure `FnMut(Tendril) -> Result<App, BoxError>` into an acceptor (a
/// `tower::Service<Tendril>` that is always ready).
///
/// The closure receives the connection's [`Tendril`] and may set its framers or close
/// it before the first frame is read. Extra arguments are captured by the closure.
/// Neither the argument nor the return type needs an annotation: both are inferred
/// (the error is a [`BoxError`], so `?` takes any error). Async acceptors need nothing
/// special: `tower::service_fn` with an async closure is an acceptor too.
///
/// ```
/// use tendril_net::app::{acceptor_fn, service, RejectConnection};
/// use tendril_net::framer::LineFramer;
/// use tendril_net::wrap::NoWrapper;
/// use tendril_net::{Manager, TcpManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tendril_net::BoxError> {
/// let greeting = "hello";
/// let acceptor = acceptor_fn(move |tendril| {
///     // Refuse clients from outside the local network (a Unix socket has no IP).
///     if tendril.remote_addr().is_some_and(|addr| !addr.ip().is_loopback()) {
///         return Err(RejectConnection::because("not a local client").into());
///     }
///     tendril.set_framers(LineFramer::new(), LineFramer::new())?;
///     Ok(service(move |_line: bytes::Bytes| async move { Ok(greeting) }))
/// });
/// let manager = TcpManager::new("127.0.0.1:0".parse()?);
/// manager.start(acceptor, NoWrapper)?;
/// # manager.shutdown();
/// # Ok(())
/// # }
/// ```
pub fn acceptor_fn<F, In, Out, App>(f: F) -> AcceptorFn<F>
where
    F: FnMut(Tendril<In, Out>) -> Result<App, BoxError>,
{
    AcceptorFn { f }
}

impl<F, In, Out, App> Service<Tendril<In, Out>> for AcceptorFn<F>
where
    F: FnMut(Tendril<In, Out>) -> Result<App, BoxError>,
{
    type Response = App;
    type Error = BoxError;
    type Future = Ready<Result<App, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, tendril: Tendril<In, Out>) -> Self::Future {
        ready((self.f)(tendril))
    }
}

/// An application from an async closure: see [`service`].
#[derive(Clone)]
pub struct ServiceFn<F> {
    f: F,
}

impl<F> fmt::Debug for ServiceFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceFn").finish_non_exhaustive()
    }
}

/// Turns an async closure `FnMut(Frame) -> impl Future<Output = Result<Reply,
/// BoxError>>` into an application, like `tower::service_fn` but with the error type
/// fixed to [`BoxError`], so `Ok(reply)` needs no `Ok::<_, BoxError>` and `?` takes any
/// error.
///
/// ```
/// use bytes::Bytes;
/// use tendril_net::app::service;
///
/// let echo = service(|line: Bytes| async move { Ok(line) });
/// # let _ = echo;
/// ```
///
/// The reply type is checked here, where the closure is, not later at `start`: it must
/// be one of the replies [`IntoFrames`](crate::app::IntoFrames) knows ([`ReplyType`]).
/// A closure answering with a bare typed frame gets a message pointing at
/// `Some(frame)` or [`answer`].
pub fn service<F, In, Fut, R>(f: F) -> ServiceFn<F>
where
    F: FnMut(In) -> Fut,
    Fut: Future<Output = Result<R, BoxError>>,
    R: ReplyType,
{
    ServiceFn { f }
}

/// An application answering every frame with exactly one frame, the value its async
/// closure returns: `answer(|request: Request| async move { Ok(Response(..)) })`. The
/// natural form for a typed-frame protocol (the bare frame, no `Some`).
///
/// ```
/// use tendril_net::app::answer;
/// use tower::{Service, ServiceExt};
///
/// struct Pong(u32);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tendril_net::BoxError> {
/// let mut app = answer(|ping: u32| async move { Ok(Pong(ping + 1)) });
/// let reply = app.ready().await?.call(41).await?;
/// assert_eq!(reply.map(|pong| pong.0), Some(42));
/// # Ok(())
/// # }
/// ```
pub fn answer<F, In, Fut, Out>(f: F) -> Answer<F>
where
    F: FnMut(In) -> Fut,
    Fut: Future<Output = Result<Out, BoxError>>,
{
    Answer { f }
}

/// An application from an async closure that returns one frame: see [`answer`].
#[derive(Clone)]
pub struct Answer<F> {
    f: F,
}

impl<F> fmt::Debug for Answer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer").finish_non_exhaustive()
    }
}

impl<F, In, Fut, Out> Service<In> for Answer<F>
where
    F: FnMut(In) -> Fut,
    Fut: Future<Output = Result<Out, BoxError>>,
{
    type Response = Option<Out>;
    type Error = BoxError;
    type Future = futures_util::future::MapOk<Fut, fn(Out) -> Option<Out>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, frame: In) -> Self::Future {
        futures_util::TryFutureExt::map_ok((self.f)(frame), Some as fn(Out) -> Option<Out>)
    }
}

/// The replies [`service`] accepts, known where the closure is written (before the
/// connection's frame type is): `()`, `Option<F>`, `Vec<F>`, [`Reply<F>`], and, for
/// `Bytes` frames, `Bytes`, `&'static str`, `String`. A type of yours that implements
/// [`IntoFrames`](crate::app::IntoFrames) implements this marker too to be returned
/// from `service` (any `tower::Service` needs neither).
///
/// [`Reply<F>`]: crate::app::Reply
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reply an application can return",
    label = "this application answers with `{Self}`",
    note = "answer one frame with `Some(frame)`, none with `()` or `None`, several with a `Vec` or a `Reply`; for `Bytes` frames a `Bytes`, `String` or `&'static str` is one frame",
    note = "to answer every frame with exactly one typed frame, write `tendril_net::app::answer(|request| async move {{ Ok(response) }})`"
)]
pub trait ReplyType {}

impl ReplyType for () {}
impl<F> ReplyType for Option<F> {}
impl<F> ReplyType for Vec<F> {}
impl<F> ReplyType for crate::app::Reply<F> {}
impl ReplyType for bytes::Bytes {}
impl ReplyType for &'static str {}
impl ReplyType for String {}

impl<F, In, Fut, R> Service<In> for ServiceFn<F>
where
    F: FnMut(In) -> Fut,
    Fut: Future<Output = Result<R, BoxError>>,
{
    type Response = R;
    type Error = BoxError;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, frame: In) -> Fut {
        (self.f)(frame)
    }
}
