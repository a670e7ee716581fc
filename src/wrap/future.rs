//! [`ResponseFuture`]: what the built-in wrappers' calls return.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use crate::error::BoxError;

/// The future of a built-in wrapper's call (a TLS handshake, a PROXY header read, socket
/// options, a [`wrap_fn`](super::wrap_fn) step): its own work, then the inner wrapper's
/// call, resolving to the inner wrapper's stream. Boxed, once per connection.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<T> {
    inner: BoxFuture<'static, Result<T, BoxError>>,
}

impl<T> ResponseFuture<T> {
    pub(crate) fn new(future: impl Future<Output = Result<T, BoxError>> + Send + 'static) -> Self {
        ResponseFuture {
            inner: Box::pin(future),
        }
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
