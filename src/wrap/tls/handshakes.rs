//! What the TLS wrappers share: the handshake timeout, the cap on handshakes at once,
//! and how a finished handshake hands the stream on.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::PollSemaphore;
use tower::Service;

use crate::error::BoxError;
use crate::wrap::chain::ready_call;
use crate::wrap::HandshakeTimeout;

/// Default handshake timeout: long enough for a slow mobile link, short enough that a
/// client which connects and says nothing does not hold a slot for long.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default number of handshakes in progress at once per wrapper: handshakes cost CPU
/// and memory before the peer has proven anything.
pub(crate) const DEFAULT_MAX_HANDSHAKES: usize = 256;

/// The handshake slots of one wrapper (shared by its clones).
pub(crate) struct Handshakes {
    slots: PollSemaphore,
    /// The slot `poll_ready` reserved for the next `call`.
    reserved: Option<OwnedSemaphorePermit>,
    timeout: Duration,
}

impl Handshakes {
    pub(crate) fn new(max: usize, timeout: Duration) -> Self {
        Handshakes {
            slots: PollSemaphore::new(Arc::new(Semaphore::new(max.max(1)))),
            reserved: None,
            timeout,
        }
    }

    /// Ready once a handshake slot is reserved.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.reserved.is_none() {
            match std::task::ready!(self.slots.poll_acquire(cx)) {
                Some(permit) => self.reserved = Some(permit),
                None => return Poll::Ready(Err("handshake slots closed".into())),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Runs `handshake` in the reserved slot, within the timeout, then calls `inner`
    /// with the stream it produced.
    pub(crate) fn run<H, T, S>(
        &mut self,
        handshake: H,
        inner: S,
    ) -> impl Future<Output = Result<S::Response, BoxError>> + Send + 'static
    where
        H: Future<Output = std::io::Result<T>> + Send + 'static,
        T: Send + 'static,
        S: Service<T> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send,
    {
        // Called without `poll_ready` (a contract breach): run without a slot.
        let slot = self.reserved.take();
        let timeout = self.timeout;
        async move {
            let stream = match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(err.into()),
                Err(_) => return Err(HandshakeTimeout { after: timeout }.into()),
            };
            drop(slot);
            ready_call(inner, stream).await
        }
    }
}

impl Clone for Handshakes {
    fn clone(&self) -> Self {
        Handshakes {
            slots: self.slots.clone(),
            reserved: None,
            timeout: self.timeout,
        }
    }
}
