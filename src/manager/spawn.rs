//! How a manager runs a connection: it registers it in the table, calls the acceptor
//! with its [`Tendril`], runs the application's driver on a tracked task, and
//! publishes how it closed (counters, the one log event) before giving its place in
//! the table up once the socket is gone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::core::{Core, StreamFacts};
use super::stats::Counters;
use super::table::Entry;
use crate::app::{is_rejection, Acceptor};
use crate::error::{BoxError, Error};
use crate::framer::FramerSwitch;
use crate::tendril::driver::{panic_error, Closed, Driver};
use crate::tendril::io::budget::frame_len;
use crate::tendril::io::{FrameIo, StreamIo};
use crate::tendril::{Addr, CloseReason, ConnectionInfo, Control, Shared, Tendril};
use crate::wrap::{BoxIo, Io, ProxyHeader};

/// Connection ids, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Core {
    /// Registers a connection on `io` and spawns its task: the acceptor's `make` is
    /// called with the connection's [`Tendril`], then the application it returns runs
    /// until the connection closes. The returned receiver tells whether the acceptor
    /// accepted.
    pub(crate) fn spawn<A, In, Out>(
        self: &Arc<Self>,
        io: BoxIo,
        local: Addr,
        remote: Addr,
        framers: FramerSwitch<In, Out>,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, oneshot::Receiver<Result<(), Error>>)
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        let proxy = io.proxy_header().cloned();
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
        self.spawn_io(StreamIo::new(io, framers), local, remote, facts, acceptor)
    }

    /// [`spawn`](Self::spawn) on any frame transport (datagram peers bring their own).
    pub(crate) fn spawn_io<A, In, Out, T>(
        self: &Arc<Self>,
        framed: T,
        local: Addr,
        remote: Addr,
        facts: StreamFacts,
        acceptor: &mut A,
    ) -> (Tendril<In, Out>, oneshot::Receiver<Result<(), Error>>)
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
        T: FrameIo<In, Out>,
    {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let key = (local.clone(), remote.clone());
        let info = ConnectionInfo::new(id, self.transport.clone(), local.clone(), remote.clone());
        let shared = Shared::new(info, self.config.outbound_queue, frame_len::<Out>, facts);
        let control: Arc<dyn Control> = shared.clone();
        let mut framed = framed;
        framed.set_charge(self.budget.charge(Arc::downgrade(&control)));
        // Frames queued through its handles are charged too, on their own account.
        shared
            .queue
            .set_charge(self.budget.charge(Arc::downgrade(&control)));
        let tendril = Tendril::from_shared(shared.clone());
        {
            let mut table = self.table();
            table.insert(
                key.clone(),
                Entry::new(id, Arc::new(tendril.clone()), control),
            );
            // Under the table lock: a shutdown either saw this entry or is seen here.
            if self.signals.abort.is_cancelled() {
                shared.shutdown(false);
            } else if self.signals.graceful.is_cancelled() {
                shared.shutdown(true);
            }
        }
        Counters::bump(&self.counters.total);

        let span =
            tracing::debug_span!("tendril", transport = %self.transport, %local, %remote, id);
        // A panicking acceptor fails this connection, not the loop that called it.
        let make = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            acceptor.call(tendril.clone())
        }));
        let (accepted, accepted_rx) = oneshot::channel();
        let guard = Guard {
            tracked: Some(Tracked {
                core: self.clone(),
                key,
                id,
            }),
            shared: shared.clone(),
        };
        let core = self.clone();
        let task = async move {
            tracing::debug!("connection opened");
            let made = match make {
                Ok(make) => make.await.map_err(Into::into),
                Err(panic) => Err(BoxError::from(panic_error(panic))),
            };
            let app = match made {
                Ok(app) => {
                    let _ = accepted.send(Ok(()));
                    app
                }
                Err(err) => {
                    let reason = if is_rejection(&err) {
                        Counters::bump(&core.counters.rejected);
                        tracing::debug!(reason = %err, "connection rejected");
                        CloseReason::Rejected
                    } else {
                        tracing::warn!(error = %err, "acceptor failed");
                        CloseReason::error(Error::application(err.to_string()))
                    };
                    let _ = accepted.send(Err(Error::application(err)));
                    guard.close(reason);
                    return;
                }
            };
            let run = Driver::new(framed, app, shared, core.config.clone()).run();
            match std::panic::AssertUnwindSafe(run).catch_unwind().await {
                Ok(Closed { reason, lingering }) => {
                    let tracked = guard.close(reason);
                    if let Some(lingering) = lingering {
                        if let Some(tracked) = &tracked {
                            tracked.set_lingering();
                        }
                        // In the table until the socket is gone.
                        let abort = core.signals.abort.clone();
                        core.lingering.spawn(async move {
                            lingering.run(abort).await;
                            drop(tracked);
                        });
                    }
                }
                Err(panic) => {
                    guard.close(CloseReason::error(panic_error(panic)));
                }
            }
        };
        self.tracker.spawn(task.instrument(span));
        (tendril, accepted_rx)
    }
}

/// A connection's place in its manager's table, given up when dropped: once its socket
/// is gone.
pub(crate) struct Tracked {
    core: Arc<Core>,
    key: (Addr, Addr),
    id: u64,
}

impl Tracked {
    /// The connection lingers: a full table may displace it first.
    fn set_lingering(&self) {
        self.core.table().set_lingering(&self.key, self.id);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut table = self.core.table();
        if let Some(entry) = table.remove(&self.key, self.id) {
            // Under the lock, as `stats` reads: its traffic moves to the closed totals.
            self.core.counters.add_closed(entry.control.traffic());
        }
    }
}

/// Publishes how a connection closed, even if its task panicked or was dropped, and
/// hands over its place in the table.
struct Guard<In, Out> {
    tracked: Option<Tracked>,
    shared: Arc<Shared<In, Out>>,
}

impl<In, Out> Guard<In, Out> {
    /// The connection's frame loop ended with `reason`: it is now closing.
    fn close(mut self, reason: CloseReason) -> Option<Tracked> {
        self.publish(reason);
        self.tracked.take()
    }

    fn publish(&mut self, reason: CloseReason) {
        if let Some(tracked) = &self.tracked {
            let core = &tracked.core;
            match reason {
                CloseReason::Error(ref err) => {
                    Counters::bump(&core.counters.failed);
                    if err.is_wrap() {
                        Counters::bump(&core.counters.wrap_failed);
                    }
                    if err.is_limit() {
                        Counters::bump(&core.counters.shed);
                    }
                }
                CloseReason::Idle => Counters::bump(&core.counters.evicted),
                CloseReason::PeerClosed => Counters::bump(&core.counters.closed_by_peer),
                CloseReason::Local => Counters::bump(&core.counters.closed_locally),
                _ => {}
            }
            core.table().set_closing(&tracked.key, tracked.id);
        }
        log_close(&reason);
        self.shared.set_closed(reason);
    }
}

/// The one event of a connection's close, in its span: at `info` when a limit, a guard
/// or the framing ended it (the operator wants to see those, once each), at `warn` for
/// the application's own failures, at `debug` for ordinary ends (the peer or this side
/// closing, an I/O error such as a reset).
fn log_close(reason: &CloseReason) {
    match reason {
        CloseReason::Error(err)
            if err.is_framing() || err.is_timeout() || err.is_wrap() || err.is_limit() =>
        {
            tracing::info!(reason = %format_args!("{err:#}"), "connection closed by a limit");
        }
        CloseReason::Error(err) if err.is_application() || err.is_panic() => {
            tracing::warn!(reason = %format_args!("{err:#}"), "connection closed by the application");
        }
        _ => tracing::debug!(reason = %reason, "connection closed"),
    }
}

impl<In, Out> Drop for Guard<In, Out> {
    fn drop(&mut self) {
        if self.tracked.is_some() {
            // A task dropped without a reason was cancelled with its runtime.
            self.publish(CloseReason::Local);
        }
    }
}
