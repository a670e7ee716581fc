//! Acceptors: make-services that build one application per connection.

use std::fmt;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use tower::Service;

use crate::error::BoxError;

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

/// Turns a closure `Fn(T) -> Result<App, E>` into an acceptor (a `tower::Service<T>`
/// that is always ready).
///
/// The closure receives the connection's [`Tendril`](crate::Tendril) and may set its
/// framers or close it before the first frame is read. Extra arguments are captured
/// by the closure. Async acceptors need nothing special: `tower::service_fn` with an
/// async closure is an acceptor too.
///
/// ```
/// use tendril_net::app::{acceptor_fn, RejectConnection};
/// use tendril_net::framer::LineFramer;
/// use tendril_net::{BoxError, Tendril};
/// use tower::service_fn;
///
/// let greeting = "hello";
/// let acceptor = acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
///     // Refuse clients from outside the local network (a Unix socket has no IP).
///     if tendril.remote_addr().is_some_and(|addr| !addr.ip().is_loopback()) {
///         return Err(RejectConnection::because("not a local client").into());
///     }
///     tendril.set_framers(LineFramer::new(), LineFramer::new())?;
///     Ok(service_fn(move |_line: bytes::Bytes| async move {
///         Ok::<_, std::convert::Infallible>(greeting)
///     }))
/// });
/// # let _ = acceptor;
/// ```
pub fn acceptor_fn<F>(f: F) -> AcceptorFn<F> {
    AcceptorFn { f }
}

impl<F, T, App, E> Service<T> for AcceptorFn<F>
where
    F: FnMut(T) -> Result<App, E>,
{
    type Response = App;
    type Error = E;
    type Future = Ready<Result<App, E>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, tendril: T) -> Self::Future {
        ready((self.f)(tendril))
    }
}
