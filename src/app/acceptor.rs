//! Acceptors: make-services that build one application per connection.

use std::fmt;
use std::future::{ready, Ready};
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
///     if tendril.remote().as_inet().is_some_and(|addr| !addr.ip().is_loopback()) {
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
