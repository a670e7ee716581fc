//! How the engine runs a connection: it registers it in the table, calls the acceptor
//! with its [`Tendril`], runs the application's driver on a tracked task, and
//! publishes how it closed (counters, the one log event) before giving its place in
//! the table up once the socket is gone.

use std::future::{Future, Pending};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::entry::Entry;
use super::sources::Source;
use super::state::Engine;
use super::stats::Counters;
use crate::app::{is_rejection, Acceptor};
use crate::error::{BoxError, Error};
use crate::framer::FramerSwitch;
use crate::tendril::control::Control;
use crate::tendril::driver::{panic_error, Closed, Driver};
use crate::tendril::io::budget::frame_len;
use crate::tendril::io::{DatagramIo, Datagrams, FrameIo, StreamIo};
use crate::tendril::shared::Shared;
use crate::tendril::{Addr, CloseReason, ConnectionInfo, StreamFacts, Tendril};
use crate::wrap::{BoxIo, Io, ProxyHeader};

/// Connection ids, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Resolves once the acceptor has accepted (`Ok`) or refused or failed (`Err`).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Accepted(oneshot::Receiver<Result<(), Error>>);

impl Future for Accepted {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|result| result.unwrap_or_else(|_| Err(Error::closed())))
    }
}

/// A connection's frame transport as it comes to the engine: open (a stream, charged to
/// the memory budget at once), or still being wrapped (a datagram peer's wrapper runs
/// on the connection's task). Only the second holds a future: a stream connection's
/// task carries nothing but its transport.
enum Opening<T, F> {
    Open(T),
    Wrapping(F),
}

impl Engine {
    /// Runs a connection on `io`, a stream that is already connected (accepted,
    /// dialled and wrapped, or handed over: stdin and stdout, a QUIC stream), between
    /// `local` and `remote`: calls `acceptor` (which must be ready: see
    /// [`Engine::listen`] for an accept loop that waits) with its [`Tendril`], then
    /// runs the application until the connection closes. What the stream tells through
    /// [`Io`] (TLS session, peer credentials, a PROXY header, whose addresses then
    /// replace `local` and `remote`) is kept on the Tendril.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn serve<A, In, Out>(
        &self,
        io: BoxIo,
        local: Addr,
        remote: Addr,
        framers: FramerSwitch<In, Out>,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, Accepted)
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let mut proxy = io.proxy_header().cloned();
        if proxy.as_ref().is_some_and(|header| !header.is_trusted()) {
            // Read from a source not trusted to send one: not believed.
            Counters::bump(&self.inner.counters.proxy_ignored);
            tracing::debug!(%remote, "PROXY header from an untrusted source ignored");
            proxy = None;
        }
        // Behind a load balancer, the connection is the client's: its addresses are
        // the ones the PROXY header carries (a LOCAL header keeps the socket's).
        let (local, remote) = match proxy.as_ref().and_then(ProxyHeader::relayed) {
            Some((source, destination)) => (Addr::Inet(destination), Addr::Inet(source)),
            None => (local, remote),
        };
        let facts = StreamFacts {
            tls: io.tls_info(),
            peer: io.peer_credentials(),
            proxy,
        };
        let io: Opening<_, Pending<_>> = Opening::Open(StreamIo::new(io, framers));
        self.run_connection(io, local, remote, facts, acceptor)
    }

    /// Runs a connection on a connectionless transport's peer: `datagrams` resolves
    /// to the peer's [`Datagrams`] (a datagram may hold several frames; a frame never
    /// spans datagrams; each frame sent is one datagram): a wrapper's call on them, or
    /// `std::future::ready(Ok::<_, std::convert::Infallible>(datagrams))` for a
    /// transport that has them at once. It runs on the connection's task, which
    /// starts once it resolves (an error closes the connection as a wrap failure);
    /// the acceptor is called at once with the [`Tendril`], keyed by `local` and
    /// `remote`. As [`serve`](Self::serve) otherwise; dropping the datagrams tells
    /// the transport the connection ended.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn serve_datagrams<F, D, E, A, In, Out>(
        &self,
        datagrams: F,
        local: Addr,
        remote: Addr,
        framers: FramerSwitch<In, Out>,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, Accepted)
    where
        F: Future<Output = Result<D, E>> + Send + 'static,
        D: Datagrams,
        E: Into<BoxError>,
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let io = Opening::Wrapping(async move {
            match datagrams.await {
                Ok(datagrams) => Ok(DatagramIo::new(datagrams, framers)),
                Err(err) => Err(Error::wrap(err)),
            }
        });
        self.run_connection(io, local, remote, StreamFacts::default(), acceptor)
    }

    /// Registers a connection on any frame transport (one still being wrapped is
    /// awaited on the connection's task) and spawns its task.
    fn run_connection<A, In, Out, T, F>(
        &self,
        framed: Opening<T, F>,
        local: Addr,
        remote: Addr,
        facts: StreamFacts,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, Accepted)
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
        T: FrameIo<In, Out>,
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let inner = &self.inner;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let key = (local.clone(), remote.clone());
        // Counted under its source: behind the PROXY protocol, the header's address.
        let source = Source::of(
            &remote,
            facts.peer.as_ref(),
            inner.bounds.per_source.ipv6_prefix,
        );
        let info = ConnectionInfo::new(id, inner.transport.clone(), local.clone(), remote.clone());
        let config = &inner.config;
        let shared = Shared::new(
            info,
            config.outbound_queue,
            config.outbound_bytes,
            frame_len::<Out>,
            facts,
        );
        let control: Arc<dyn Control> = shared.clone();
        let mut framed = framed;
        if let Opening::Open(framed) = &mut framed {
            framed.set_charge(inner.budget.charge(Arc::downgrade(&control)));
        }
        // Frames queued through its handles are charged too, on their own account.
        shared
            .queue
            .set_charge(inner.budget.charge(Arc::downgrade(&control)));
        let tendril = Tendril::from_shared(shared.clone());
        {
            let mut table = self.table();
            let now = tokio::time::Instant::now();
            let entry = Entry::new(control, source);
            if let Err(refusal) = table.insert(key.clone(), entry, now) {
                if let Some(source) = source {
                    self.refused_by_source(&mut table, source, refusal, now);
                }
                drop(table);
                // Closed at once: its stream goes with `framed`.
                let err = || Error::limit(format!("refused: {refusal}"));
                shared.set_closed(CloseReason::error(err()));
                let (refused, accepted) = oneshot::channel();
                let _ = refused.send(Err(err()));
                return (tendril, Accepted(accepted));
            }
            // Under the table lock: a shutdown either saw this entry or is seen here.
            if let Some(graceful) = self.phase() {
                shared.shutdown(graceful);
            }
        }
        Counters::bump(&inner.counters.total);

        let span =
            tracing::debug_span!("tendril", transport = %inner.transport, %local, %remote, id);
        // A panicking acceptor fails this connection, not the loop that called it.
        let make = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let made = acceptor.call(tendril.clone());
            async move { made.await.map_err(Into::into) }
        }));
        let (accepted, accepted_rx) = oneshot::channel();
        let guard = Guard(Some(Tracked {
            engine: self.clone(),
            shared: shared.clone(),
        }));
        // Boxed, and gone once the application is made and the transport open: a
        // running connection's task holds its frame loop and little else.
        let opening = Box::pin(open(make, framed, accepted, self.clone()));
        let task = async move {
            tracing::debug!("connection opened");
            let (app, framed) = match opening.await {
                Ok(opened) => opened,
                Err(reason) => {
                    guard.close(reason);
                    return;
                }
            };
            let config = guard.engine().inner.config.clone();
            let mut driver = Driver::new(framed, app, shared, config);
            let closed = match AssertUnwindSafe(driver.frames()).catch_unwind().await {
                // The closing steps are boxed: they take no room in a live task.
                Ok(stop) => AssertUnwindSafe(driver.close(stop)).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            match closed {
                Ok(Closed { reason, lingering }) => {
                    let tracked = guard.close(reason);
                    if let (Some(lingering), Some(tracked)) = (lingering, tracked) {
                        tracked.set_lingering();
                        // In the table until the socket is gone.
                        let tracker = tracked.engine.inner.lingering.clone();
                        tracker.spawn(async move {
                            lingering.run().await;
                            drop(tracked);
                        });
                    }
                }
                Err(panic) => {
                    guard.close(CloseReason::error(panic_error(panic)));
                }
            }
        };
        inner.tracker.spawn(task.instrument(span));
        (tendril, Accepted(accepted_rx))
    }
}

/// Makes a connection's application and opens its transport (a datagram peer's may
/// still be wrapping); `Err` with the close reason if either failed.
async fn open<M, S, T, F>(
    make: std::thread::Result<M>,
    framed: Opening<T, F>,
    accepted: oneshot::Sender<Result<(), Error>>,
    engine: Engine,
) -> Result<(S, T), CloseReason>
where
    M: Future<Output = Result<S, BoxError>>,
    F: Future<Output = Result<T, Error>>,
{
    // A panicking acceptor fails this connection, not the loop that called it.
    let made = match make {
        Ok(make) => make.await,
        Err(panic) => Err(BoxError::from(panic_error(panic))),
    };
    let app = match made {
        Ok(app) => {
            let _ = accepted.send(Ok(()));
            app
        }
        Err(err) => {
            let reason = if is_rejection(&err) {
                Counters::bump(&engine.inner.counters.rejected);
                tracing::debug!(reason = %format_args!("{err:#}"), "connection rejected");
                CloseReason::Rejected
            } else {
                tracing::warn!(error = %format_args!("{err:#}"), "acceptor failed");
                CloseReason::error(Error::application(err.to_string()))
            };
            let _ = accepted.send(Err(Error::application(err)));
            return Err(reason);
        }
    };
    let framed = match framed {
        Opening::Open(framed) => framed,
        // A datagram peer's buffers are bounded by its queues: nothing to charge.
        Opening::Wrapping(wrapping) => wrapping.await.map_err(CloseReason::error)?,
    };
    Ok((app, framed))
}

/// A connection's place in its manager's table, given up when dropped: once its socket
/// is gone.
struct Tracked<In, Out> {
    engine: Engine,
    /// Its id and addresses (the table's key) are in its info.
    shared: Arc<Shared<In, Out>>,
}

impl<In, Out> Tracked<In, Out> {
    fn id(&self) -> u64 {
        self.shared.info.id()
    }

    fn key(&self) -> (Addr, Addr) {
        let info = &self.shared.info;
        (info.local().clone(), info.remote().clone())
    }

    /// The connection lingers: a full table may shed it first.
    fn set_lingering(&self) {
        self.engine.table().set_lingering(&self.key(), self.id());
    }
}

impl<In, Out> Drop for Tracked<In, Out> {
    fn drop(&mut self) {
        let key = self.key();
        let mut table = self.engine.table();
        if let Some(entry) = table.remove(&key, self.id()) {
            // Under the lock, as `stats` reads: its traffic moves to the closed totals.
            self.engine
                .inner
                .counters
                .add_closed(entry.control.traffic());
        }
    }
}

/// Publishes how a connection closed, even if its task panicked or was dropped, and
/// hands over its place in the table.
struct Guard<In, Out>(Option<Tracked<In, Out>>);

impl<In, Out> Guard<In, Out> {
    fn engine(&self) -> &Engine {
        let tracked = self.0.as_ref();
        &tracked.expect("a guard is tracked until it closes").engine
    }

    /// The connection's frame loop ended with `reason`: it is now closing.
    fn close(mut self, reason: CloseReason) -> Option<Tracked<In, Out>> {
        self.publish(reason);
        self.0.take()
    }

    fn publish(&mut self, reason: CloseReason) {
        if let Some(tracked) = &self.0 {
            let engine = &tracked.engine;
            engine.inner.counters.closed(&reason);
            engine.table().set_closing(&tracked.key(), tracked.id());
            log_close(&reason, tracked.shared.info.remote(), tracked.id());
            tracked.shared.set_closed(reason);
        }
    }
}

/// The one event of a connection's close, in its span, naming the peer and the
/// connection's id (the span is at `debug`, so an operator logging at `info` still
/// sees whose connection it was): at `info` when a limit, a guard or the framing ended
/// it (the operator wants to see those, once each), at `warn` for the application's
/// own failures, at `debug` for ordinary ends (the peer or this side closing, an I/O
/// error such as a reset).
fn log_close(reason: &CloseReason, remote: &Addr, id: u64) {
    match reason {
        CloseReason::Error(err)
            if err.is_framing() || err.is_timeout() || err.is_wrap() || err.is_limit() =>
        {
            tracing::info!(%remote, id, %reason, "connection closed by a limit");
        }
        CloseReason::Error(err) if err.is_application() || err.is_panic() => {
            tracing::warn!(%remote, id, %reason, "connection closed by the application");
        }
        _ => tracing::debug!(%remote, id, %reason, "connection closed"),
    }
}

impl<In, Out> Drop for Guard<In, Out> {
    fn drop(&mut self) {
        if self.0.is_some() {
            // A task dropped without a reason was cancelled with its runtime.
            self.publish(CloseReason::Local);
        }
    }
}
