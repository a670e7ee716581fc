//! Applications from async closures: [`service`] (any reply) and [`answer`] (exactly one
//! frame per request), and [`ReplyType`], the replies `service` accepts.

use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

use tower::Service;

use crate::error::BoxError;

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
