//! A closure as a wrapper in a chain.

use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{take_ready, ResponseFuture};
use crate::error::BoxError;

/// A layer that runs `f` on the I/O object, then hands its result to the rest of the
/// chain. For a closure as the whole wrapper, `tower::service_fn` is enough.
pub fn wrap_fn<F>(f: F) -> WrapFnLayer<F> {
    WrapFnLayer { f }
}

/// The layer of [`wrap_fn`].
#[derive(Clone)]
pub struct WrapFnLayer<F> {
    f: F,
}

impl<F> fmt::Debug for WrapFnLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrapFnLayer").finish_non_exhaustive()
    }
}

impl<F: Clone, S> Layer<S> for WrapFnLayer<F> {
    type Service = WrapFn<F, S>;

    fn layer(&self, inner: S) -> WrapFn<F, S> {
        WrapFn::new(inner, self.f.clone())
    }
}

/// A closure applied to the I/O object before the wrapper `S` (see [`wrap_fn`]).
#[derive(Clone)]
pub struct WrapFn<F, S> {
    f: F,
    inner: S,
}

impl<F, S> WrapFn<F, S> {
    /// Runs `f`, then `inner`.
    pub fn new(inner: S, f: F) -> Self {
        WrapFn { f, inner }
    }

    /// The wrapper applied after `f`.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapper applied after `f`, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapper applied after `f`.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<F, S: fmt::Debug> fmt::Debug for WrapFn<F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrapFn")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F, Fut, I, I2, E, S> Service<I> for WrapFn<F, S>
where
    F: FnMut(I) -> Fut,
    Fut: Future<Output = Result<I2, E>> + Send + 'static,
    E: Into<BoxError>,
    S: Service<I2> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    I2: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The inner wrapper's readiness (a TLS handshake slot) is this one's: a
        // wrap_fn in front of TLS keeps the handshake cap.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, io: I) -> Self::Future {
        let step = (self.f)(io);
        let mut inner = take_ready(&mut self.inner);
        ResponseFuture::new(async move {
            let io = step.await.map_err(Into::into)?;
            inner.call(io).await.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::{ready, Future};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use tower::limit::ConcurrencyLimit;
    use tower::{service_fn, Service};

    use super::WrapFn;
    use crate::error::BoxError;

    /// A wrapper with one slot, like a TLS handshake cap of one.
    fn one_slot() -> ConcurrencyLimit<
        impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone + Send,
    > {
        ConcurrencyLimit::new(service_fn(|io: u32| ready(Ok::<_, BoxError>(io * 10))), 1)
    }

    #[test]
    fn readiness_is_the_inner_wrappers_and_the_call_uses_what_it_reserved() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut wrapper = WrapFn::new(one_slot(), |io: u32| ready(Ok::<_, BoxError>(io + 1)));
        assert!(matches!(wrapper.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        // The slot goes with this call: a clone of the inner wrapper that had not been
        // made ready would panic in `ConcurrencyLimit::call`.
        let call = wrapper.call(1);
        // The one slot is taken: the wrapper is not ready until the call ends.
        assert!(wrapper.poll_ready(&mut cx).is_pending());
        let mut call = pin!(call);
        assert!(matches!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(20))));
        assert!(matches!(wrapper.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    }
}
