//! The client's side of the connection: the application that receives responses and
//! hands each to the call waiting for it (through the [`Flight`]), and the acceptor
//! that hands it to the connection.

use std::convert::Infallible;
use std::fmt;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::Service;

use super::flight::{Flight, Routed};
use super::Tagger;
use crate::error::BoxError;
use crate::tendril::Tendril;

/// What to do with a frame no request waits for.
pub(crate) type Unsolicited<Resp> = Arc<dyn Fn(Resp) + Send + Sync>;

/// The application of a client's connection.
pub(crate) struct Dispatch<Req, Resp> {
    pub(crate) flight: Arc<Flight<Resp>>,
    /// Multiplexed: reads a response's tag.
    pub(crate) tagger: Option<Arc<dyn Tagger<Req, Resp>>>,
    pub(crate) unsolicited: Option<Unsolicited<Resp>>,
}

impl<Req: 'static, Resp: 'static> Service<Resp> for Dispatch<Req, Resp> {
    type Response = ();
    type Error = Infallible;
    type Future = Ready<Result<(), Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, response: Resp) -> Self::Future {
        let tag = self
            .tagger
            .as_ref()
            .and_then(|tagger| tagger.tag_of(&response));
        if let Routed::Unsolicited(frame) = self.flight.route(tag, response) {
            match &self.unsolicited {
                Some(handler) => handler(frame),
                None => tracing::warn!("client: a frame came with no request waiting; dropped"),
            }
        }
        std::future::ready(Ok(()))
    }
}

impl<Req, Resp> Drop for Dispatch<Req, Resp> {
    fn drop(&mut self) {
        // The connection is gone: nobody will answer the calls waiting.
        self.flight.close_all();
    }
}

/// An acceptor that hands out one application, once: the dispatcher of a client.
pub(crate) struct Once<D>(pub(crate) Option<D>);

impl<D> fmt::Debug for Once<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Once").finish_non_exhaustive()
    }
}

impl<D, In, Out> Service<Tendril<In, Out>> for Once<D> {
    type Response = D;
    type Error = BoxError;
    type Future = Ready<Result<D, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _tendril: Tendril<In, Out>) -> Self::Future {
        std::future::ready(self.0.take().ok_or_else(|| "a client connects once".into()))
    }
}
