//! The wrapper contract, the identity wrapper and [`WrapperChain`].

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service};

use super::Io;
use crate::error::BoxError;

/// A wrapper: a `tower::Service` from an I/O object to the I/O object a connection
/// runs on ([`Io`]), possibly asynchronous (a TLS handshake) and fallible. Implemented
/// for every service that fits; it is only a name for the bounds.
///
/// The built-in wrappers are middleware in the tower sense: each does its part and
/// hands the result to the wrapper inside it, down to [`NoWrapper`], so a chain of
/// them is built with layers, in order, by [`WrapperChain`].
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

/// Wrappers composed in order, like `tower::ServiceBuilder`: the first layer added is
/// applied first to the raw socket, its result goes to the next, and so on. A chain is
/// itself a wrapper (and, as a `Layer`, can be a part of another chain). Its readiness
/// is its wrappers' (a TLS wrapper's handshake cap holds accepting back through any
/// wrapper in front of it), and its clones share their state.
///
/// ```
/// use std::time::Duration;
/// use tendril_net::wrap::{wrap_fn, SocketOptionsLayer, WrapperChain};
///
/// let chain = WrapperChain::new()
///     .layer(SocketOptionsLayer::new().nodelay(true).keepalive(Some(Duration::from_secs(60))))
///     .layer(wrap_fn(|stream: tokio::net::TcpStream| async move {
///         // Anything asynchronous: read a PROXY header, log, ...
///         Ok::<_, std::io::Error>(stream)
///     }));
/// # fn is_wrapper<W: tendril_net::wrap::Wrapper<tokio::net::TcpStream>>(_: &W) {}
/// # is_wrapper(&chain);
/// ```
pub struct WrapperChain<L: Layer<NoWrapper> = Identity> {
    layer: L,
    wrapper: L::Service,
}

impl WrapperChain {
    /// The empty chain (the same as [`NoWrapper`]).
    pub fn new() -> Self {
        WrapperChain {
            layer: Identity::new(),
            wrapper: NoWrapper,
        }
    }
}

impl Default for WrapperChain {
    fn default() -> Self {
        WrapperChain::new()
    }
}

impl<L: Layer<NoWrapper>> WrapperChain<L> {
    /// Adds a wrapper's layer, applied after those already in the chain.
    pub fn layer<T>(self, layer: T) -> WrapperChain<Stack<T, L>>
    where
        T: Layer<NoWrapper>,
        L: Layer<T::Service>,
    {
        let layer = Stack::new(layer, self.layer);
        let wrapper = layer.layer(NoWrapper);
        WrapperChain { layer, wrapper }
    }

    /// The wrapper the chain builds.
    pub fn into_wrapper(self) -> L::Service {
        self.wrapper
    }
}

/// Clones share the wrappers' state, as clones of tower services do: a TLS wrapper's
/// handshake slots are one pool for every clone. For a chain with its own state, build
/// a new one from the layers.
impl<L> Clone for WrapperChain<L>
where
    L: Layer<NoWrapper> + Clone,
    L::Service: Clone,
{
    fn clone(&self) -> Self {
        WrapperChain {
            layer: self.layer.clone(),
            wrapper: self.wrapper.clone(),
        }
    }
}

impl<L: Layer<NoWrapper> + fmt::Debug> fmt::Debug for WrapperChain<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrapperChain")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<L, I> Service<I> for WrapperChain<L>
where
    L: Layer<NoWrapper>,
    L::Service: Service<I>,
{
    type Response = <L::Service as Service<I>>::Response;
    type Error = <L::Service as Service<I>>::Error;
    type Future = <L::Service as Service<I>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.wrapper.poll_ready(cx)
    }

    fn call(&mut self, io: I) -> Self::Future {
        self.wrapper.call(io)
    }
}

impl<L, S> Layer<S> for WrapperChain<L>
where
    L: Layer<NoWrapper> + Layer<S>,
{
    type Service = <L as Layer<S>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        <L as Layer<S>>::layer(&self.layer, inner)
    }
}

/// Takes the wrapper that `poll_ready` made ready, for a call that uses it later
/// (after its own asynchronous step): what it reserved goes with that call, and a
/// clone, not yet ready, stays for the next `poll_ready`.
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// Waits for `inner` to be ready, then calls it: how a wrapper hands its result on
/// after its own asynchronous work. (A named future rather than an `async fn`, so that
/// it is `Send` whenever its parts are, whatever lifetimes the stream type carries.)
pub(crate) fn ready_call<S, I>(inner: S, io: I) -> ReadyCall<S, I>
where
    S: Service<I>,
{
    ReadyCall {
        state: CallState::Waiting { inner, io },
    }
}

/// The future of [`ready_call`].
pub(crate) struct ReadyCall<S: Service<I>, I> {
    state: CallState<S, I>,
}

enum CallState<S: Service<I>, I> {
    Waiting { inner: S, io: I },
    Calling(Pin<Box<S::Future>>),
    Done,
}

// Nothing is pinned in place: the service and the stream are moved out before the
// call, and the call's future is boxed.
impl<S: Service<I>, I> Unpin for ReadyCall<S, I> {}

impl<S, I> Future for ReadyCall<S, I>
where
    S: Service<I>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                CallState::Waiting { inner, .. } => {
                    if let Err(err) = ready!(inner.poll_ready(cx)) {
                        this.state = CallState::Done;
                        return Poll::Ready(Err(err.into()));
                    }
                    let CallState::Waiting { mut inner, io } =
                        std::mem::replace(&mut this.state, CallState::Done)
                    else {
                        return Poll::Pending;
                    };
                    this.state = CallState::Calling(Box::pin(inner.call(io)));
                }
                CallState::Calling(call) => {
                    let result = ready!(call.as_mut().poll(cx));
                    this.state = CallState::Done;
                    return Poll::Ready(result.map_err(Into::into));
                }
                CallState::Done => {
                    return Poll::Ready(Err("wrapper future polled after completion".into()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::ready;
    use std::task::{Context, Poll, Waker};

    use tower::limit::ConcurrencyLimitLayer;
    use tower::Service;

    use super::WrapperChain;
    use crate::error::BoxError;
    use crate::wrap::wrap_fn;

    #[test]
    fn clones_share_the_wrappers_state() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut chain = WrapperChain::new()
            .layer(ConcurrencyLimitLayer::new(1))
            .layer(wrap_fn(|io: u32| ready(Ok::<_, BoxError>(io))));
        let mut clone = chain.clone();
        assert!(matches!(
            Service::<u32>::poll_ready(&mut chain, &mut cx),
            Poll::Ready(Ok(()))
        ));
        // One slot for both: the clone waits for it.
        assert!(Service::<u32>::poll_ready(&mut clone, &mut cx).is_pending());
        drop(chain);
        assert!(matches!(
            Service::<u32>::poll_ready(&mut clone, &mut cx),
            Poll::Ready(Ok(()))
        ));
    }
}
