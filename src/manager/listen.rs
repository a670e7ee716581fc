//! The accept loop and the connect path of stream transports: accept (or dial), wrap,
//! then hand the connection to the acceptor.

use std::future::poll_fn;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::stats::Counters;
use super::Core;
use crate::app::Acceptor;
use crate::error::{BoxError, Error};
use crate::framer::FramerSwitch;
use crate::tendril::{Addr, Tendril};
use crate::wrap::{ready_call, BoxIo, Wrapper};

/// A source of accepted byte streams, for the accept loop every stream transport
/// shares ([`Engine::listen`](crate::manager::Engine::listen)).
pub trait Listener: Send + 'static {
    /// An accepted stream, before any wrapper.
    type Io: Send + 'static;

    /// Accepts the next connection: its stream, then the local and the remote address.
    ///
    /// # Errors
    ///
    /// Errors of the system's accept: those that concern one connection
    /// (`ConnectionAborted`, `ConnectionReset`, `Interrupted`) are skipped, the others
    /// (out of descriptors) are counted and retried with a backoff from 5 ms to 1 s.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Io, Addr, Addr)>>;
}

/// A connection that finished wrapping on its own task.
struct Wrapped {
    io: BoxIo,
    local: Addr,
    remote: Addr,
}

/// Errors of `accept` that concern one failed incoming connection only.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

impl Core {
    /// Runs the accept loop of `listener` on a tracked task.
    pub(crate) fn listen<L, W, A, In, Out, F>(
        self: &Arc<Self>,
        listener: L,
        wrapper: W,
        acceptor: A,
        framers: F,
    ) where
        L: Listener,
        W: Wrapper<L::Io>,
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let core = self.clone();
        self.tracker
            .spawn(core.accept_loop(listener, wrapper, acceptor, framers));
    }

    async fn accept_loop<L, W, A, In, Out, F>(
        self: Arc<Self>,
        mut listener: L,
        mut wrapper: W,
        mut acceptor: A,
        framers: F,
    ) where
        L: Listener,
        W: Wrapper<L::Io>,
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out>,
    {
        const FIRST_BACKOFF: Duration = Duration::from_millis(5);
        const MAX_BACKOFF: Duration = Duration::from_secs(1);
        let stop = self.signals.accept.clone();
        // Unbounded, but what it holds is bounded: connections being wrapped count
        // against `max_connections`.
        let (wrapped_tx, mut wrapped_rx) = mpsc::unbounded_channel::<Wrapped>();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let ready = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                ready = Core::acceptor_ready(&mut acceptor) => ready,
            };
            if let Err(err) = ready {
                tracing::error!(error = %err, "acceptor failed: the listener stops");
                break;
            }
            // The acceptor is ready: for a connection done wrapping, or a new one.
            let accepted = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(wrapped) = wrapped_rx.recv() => {
                    let _ = self.spawn(
                        wrapped.io,
                        wrapped.local,
                        wrapped.remote,
                        framers(),
                        &mut acceptor,
                    );
                    continue;
                }
                accepted = poll_fn(|cx| listener.poll_accept(cx)) => accepted,
            };
            match accepted {
                Ok((io, local, remote)) => {
                    backoff = FIRST_BACKOFF;
                    if !self.admit() {
                        Counters::bump(&self.counters.refused);
                        tracing::debug!(%remote, "connection refused: max_connections reached");
                        continue;
                    }
                    tracing::debug!(%remote, "connection accepted");
                    // The wrapper's readiness (a TLS handshake slot) is asked with the
                    // newcomer in hand: a TLS wrapper with every slot taken sheds a
                    // silent handshake for it rather than stopping the accept loop.
                    let ready = tokio::select! {
                        biased;
                        _ = stop.cancelled() => break,
                        ready = poll_fn(|cx| wrapper.poll_ready(cx)) => ready,
                    };
                    if let Err(err) = ready {
                        let err: BoxError = err.into();
                        tracing::error!(error = %err, "wrapper failed: the listener stops");
                        break;
                    }
                    let wrapping = wrapper.call(io);
                    if let Some(io) = self.wrap_accepted(wrapping, local, remote, &wrapped_tx) {
                        let _ = self.spawn(io.io, io.local, io.remote, framers(), &mut acceptor);
                    }
                }
                Err(err) if is_transient(&err) => {}
                Err(err) => {
                    // Out of descriptors or memory: wait for some to be freed, retry.
                    Counters::bump(&self.counters.accept_errors);
                    tracing::warn!(error = %err, ?backoff, "accept failed; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        tracing::debug!("stopped accepting");
    }

    /// Wraps an accepted connection: at once if the wrapper is done on the first poll
    /// (socket options, no wrapper), returning the stream; otherwise on a task of its
    /// own, which sends the stream back to the accept loop.
    fn wrap_accepted<Fut, T, E>(
        self: &Arc<Self>,
        wrapping: Fut,
        local: Addr,
        remote: Addr,
        done: &mpsc::UnboundedSender<Wrapped>,
    ) -> Option<Wrapped>
    where
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
        T: crate::wrap::Io,
        E: Into<BoxError>,
    {
        let mut wrapping = Box::pin(wrapping);
        match (&mut wrapping).now_or_never() {
            Some(Ok(io)) => {
                return Some(Wrapped {
                    io: Box::pin(io),
                    local,
                    remote,
                })
            }
            Some(Err(err)) => {
                self.wrap_failed(&remote, err.into());
                return None;
            }
            None => {}
        }
        self.counters.wrapping.fetch_add(1, Ordering::Relaxed);
        let core = self.clone();
        let done = done.clone();
        let abort = self.signals.abort.clone();
        let span = tracing::debug_span!("wrap", transport = %self.transport, %remote);
        let task = async move {
            let wrapped = tokio::select! {
                _ = abort.cancelled() => None,
                wrapped = wrapping => Some(wrapped),
            };
            core.counters.wrapping.fetch_sub(1, Ordering::Relaxed);
            match wrapped {
                Some(Ok(io)) => {
                    let io: BoxIo = Box::pin(io);
                    // The loop is gone once accepting stopped: the connection is dropped.
                    let _ = done.send(Wrapped { io, local, remote });
                }
                Some(Err(err)) => core.wrap_failed(&remote, err.into()),
                None => {}
            }
        };
        self.tracker.spawn(task.instrument(span));
        None
    }

    fn wrap_failed(&self, remote: &Addr, err: BoxError) {
        Counters::bump(&self.counters.wrap_failed);
        // The one event of this connection: at info, like every close by a limit.
        tracing::info!(%remote, reason = %err, "connection closed by its wrapper");
    }

    /// Wraps a connected stream, then runs `acceptor`'s application on it; resolves
    /// once the acceptor has accepted.
    pub(crate) async fn connect<I, W, A, In, Out>(
        self: &Arc<Self>,
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
        let io: BoxIo = match ready_call(wrapper, io).await {
            Ok(io) => Box::pin(io),
            Err(err) => {
                Counters::bump(&self.counters.wrap_failed);
                return Err(Error::wrap(err));
            }
        };
        Core::acceptor_ready(&mut acceptor)
            .await
            .map_err(Error::application)?;
        let (tendril, accepted) = self.spawn(io, local, remote, framers, &mut acceptor);
        accepted.await.map_err(|_| Error::closed())??;
        Ok(tendril)
    }
}
