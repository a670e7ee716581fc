//! The wrapper contract and the identity wrapper.

use std::convert::Infallible;
use std::future::Ready;
use std::task::{Context, Poll};

use tower::Service;

use super::Io;
use crate::error::BoxError;

/// A wrapper: a `tower::Service` from an I/O object to the I/O object a connection
/// runs on ([`Io`]), possibly asynchronous (a TLS handshake) and fallible. Implemented
/// for every service that fits; it is only a name for the bounds.
///
/// The built-in wrappers are middleware in the tower sense: each does its part and
/// hands the result to the wrapper inside it, down to [`NoWrapper`], so a chain of
/// them is built with layers, in order, by [`WrapperChain`](super::WrapperChain).
pub trait Wrapper<I>:
    Service<I, Response: Io, Error: Into<BoxError>, Future: Send + 'static> + Send + 'static
{
}

impl<S, I> Wrapper<I> for S where
    S: Service<I, Response: Io, Error: Into<BoxError>, Future: Send + 'static> + Send + 'static
{
}

/// The wrapper that changes nothing: the I/O object is used as it is. The end of every
/// chain, and what to pass to `start`/`connect` when a connection needs no wrapping.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWrapper;

impl<I> Service<I> for NoWrapper {
    type Response = I;
    type Error = Infallible;
    type Future = Ready<Result<I, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, io: I) -> Self::Future {
        std::future::ready(Ok(io))
    }
}

/// Takes the wrapper that `poll_ready` made ready, for a call that uses it later
/// (after its own asynchronous step): what it reserved goes with that call, and a
/// clone, not yet ready, stays for the next `poll_ready` (tower's "be careful when
/// cloning inner services").
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
