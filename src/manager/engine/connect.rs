//! The connect path of stream transports: wrap a dialled stream, then hand the
//! connection to the acceptor and wait for it to accept.

use tower::ServiceExt;

use super::state::Engine;
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::tendril::{Addr, Tendril};
use crate::wrap::{BoxIo, Wrapper};

impl Engine {
    /// Runs a connection on a stream this transport dialled: wraps it with `wrapper`,
    /// then calls `acceptor` with its [`Tendril`] (once the acceptor is ready).
    /// Resolves once the acceptor accepted.
    ///
    /// # Errors
    ///
    /// [`Error::is_wrap`] if the wrapper failed, [`Error::is_application`] if the
    /// acceptor refused or failed, [`Error::is_closed`] after shutdown.
    pub async fn connect<I, W, A, In, Out>(
        &self,
        io: I,
        local: Addr,
        remote: Addr,
        framers: FramerSwitch<In, Out>,
        mut acceptor: A,
        wrapper: W,
    ) -> Result<Tendril<In, Out>, Error>
    where
        W: Wrapper<I>,
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        if self.is_closing() {
            return Err(Error::closed());
        }
        let io: BoxIo = match wrapper.oneshot(io).await {
            Ok(io) => Box::pin(io),
            Err(err) => {
                let err = err.into();
                self.inner.counters.wrap_failed(&*err);
                return Err(Error::wrap(err));
            }
        };
        acceptor
            .ready()
            .await
            .map_err(|err| Error::application(err.into()))?;
        let (tendril, accepted) = self.serve(io, local, remote, framers, &mut acceptor);
        accepted.await?;
        Ok(tendril)
    }
}
