//! [`WrapperChain`]: wrappers composed in order, like `tower::ServiceBuilder`.

use std::fmt;
use std::task::{Context, Poll};

use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service};

use super::NoWrapper;

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
