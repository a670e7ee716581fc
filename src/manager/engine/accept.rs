//! The accept loop of stream transports: accept, admit, wrap (on a task of its own
//! when the wrapper does not finish at once), then hand the connection to the
//! acceptor.

use std::future::poll_fn;
use std::io;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use tower::Service;
use tracing::Instrument;

use super::state::Engine;
use super::stats::Counters;
use crate::app::Acceptor;
use crate::error::BoxError;
use crate::framer::FramerSwitch;
use crate::tendril::Addr;
use crate::wrap::{BoxIo, Io, Wrapper};

/// A source of accepted byte streams, for the accept loop every stream transport
/// shares ([`Engine::listen`]).
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

/// EMFILE or ENFILE: the process or the system is out of file descriptors.
fn is_out_of_descriptors(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(23 | 24))
}

/// Waits for `service` to be ready (its `poll_ready`).
async fn readiness<S, T>(service: &mut S) -> Result<(), BoxError>
where
    S: Service<T>,
    S::Error: Into<BoxError>,
{
    poll_fn(|cx| service.poll_ready(cx).map_err(Into::into)).await
}

impl Engine {
    /// Accepts from `listener` on a tracked task until the manager stops: each stream
    /// is admitted ([`admit`](Self::admit): a full table sheds an idle connection or
    /// refuses), goes through `wrapper`, then `acceptor` gets its [`Tendril`](crate::Tendril)
    /// with framers from `framers`. The acceptor's readiness gates accepting; the
    /// wrapper's is asked with the accepted stream in hand (a TLS wrapper with every
    /// handshake slot taken sheds a silent handshake then, rather than stopping the
    /// loop); wrapping that does not finish at once runs on a task of its own and
    /// counts against `max_connections`; accept errors that concern one connection
    /// are skipped, the others (out of descriptors) counted and retried after a
    /// back-off from 5 ms to 1 s.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn listen<L, W, A, In, Out, F>(&self, listener: L, acceptor: A, wrapper: W, framers: F)
    where
        L: Listener,
        W: Wrapper<L::Io>,
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        let engine = self.clone();
        self.inner
            .tracker
            .spawn(engine.accept_loop(listener, acceptor, wrapper, framers));
    }

    async fn accept_loop<L, W, A, In, Out, F>(
        self,
        mut listener: L,
        mut acceptor: A,
        mut wrapper: W,
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
        let stop = self.inner.stop.clone();
        let capacity = self.capacity();
        if capacity < self.inner.bounds.max_connections {
            tracing::info!(
                max_connections = self.inner.bounds.max_connections,
                capacity,
                "the open-file limit leaves room for fewer connections than max_connections: the table is full at {capacity}"
            );
        }
        // Connections being wrapped count against `max_connections`: at most that
        // many are ever sent back.
        let (wrapped_tx, mut wrapped_rx) =
            mpsc::channel::<Wrapped>(self.inner.bounds.max_connections.max(1));
        let mut backoff = FIRST_BACKOFF;
        loop {
            let ready = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                ready = readiness(&mut acceptor) => ready,
            };
            if let Err(err) = ready {
                tracing::error!(error = %format_args!("{err:#}"), "acceptor failed: the listener stops");
                break;
            }
            // The acceptor is ready: for a connection done wrapping, or a new one.
            let accepted = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(wrapped) = wrapped_rx.recv() => {
                    // In the table from here: no longer counted as wrapping.
                    self.inner.counters.wrapping.fetch_sub(1, Ordering::Relaxed);
                    let _ = self.serve(
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
                    if !self.admit(&remote) {
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
                        ready = readiness(&mut wrapper) => ready,
                    };
                    if let Err(err) = ready {
                        tracing::error!(error = %format_args!("{err:#}"), "wrapper failed: the listener stops");
                        break;
                    }
                    let wrapping = wrapper.call(io);
                    if let Some(io) = self.wrap_accepted(wrapping, local, remote, &wrapped_tx) {
                        let _ = self.serve(io.io, io.local, io.remote, framers(), &mut acceptor);
                    }
                }
                Err(err) if is_transient(&err) => {}
                Err(err) => {
                    // Out of descriptors or memory: wait for some to be freed, retry.
                    // Out of descriptors counts as a full table: the source holding
                    // the most gives one up for whoever waits.
                    if is_out_of_descriptors(&err) {
                        self.out_of_descriptors();
                    }
                    Counters::bump(&self.inner.counters.accept_errors);
                    tracing::warn!(error = %format_args!("{err:#}"), ?backoff, "accept failed; retrying");
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
        &self,
        wrapping: Fut,
        local: Addr,
        remote: Addr,
        done: &mpsc::Sender<Wrapped>,
    ) -> Option<Wrapped>
    where
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
        T: Io,
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
        let counters = &self.inner.counters;
        counters.wrapping.fetch_add(1, Ordering::Relaxed);
        let engine = self.clone();
        let done = done.clone();
        // Once accepting stopped, the loop that would serve it is gone: stop wrapping.
        let stop = self.inner.stop.clone();
        let span = tracing::debug_span!("wrap", transport = %self.inner.transport, %remote);
        let task = async move {
            let wrapped = tokio::select! {
                _ = stop.cancelled() => None,
                wrapped = wrapping => Some(wrapped),
            };
            // Still counted as wrapping until the loop serves it, so the channel has
            // room for every one; otherwise (failed, stopped, the loop gone) no more.
            let handed = match wrapped {
                Some(Ok(io)) => {
                    let io: BoxIo = Box::pin(io);
                    done.try_send(Wrapped { io, local, remote }).is_ok()
                }
                Some(Err(err)) => {
                    engine.wrap_failed(&remote, err.into());
                    false
                }
                None => false,
            };
            if !handed {
                engine
                    .inner
                    .counters
                    .wrapping
                    .fetch_sub(1, Ordering::Relaxed);
            }
        };
        self.inner.tracker.spawn(task.instrument(span));
        None
    }

    fn wrap_failed(&self, remote: &Addr, err: BoxError) {
        self.inner.counters.wrap_failed(&*err);
        // The one event of this connection: at info, like every close by a limit.
        tracing::info!(%remote, reason = %format_args!("{err:#}"), "connection closed by its wrapper");
    }
}
