//! What every manager offers: the [`Manager`] trait (lifecycle, lookups, stats: one
//! surface for every transport, provided over its [`Engine`]) and [`Connect`] (how any
//! manager connects out, for code generic over transports such as the
//! `Client`).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use super::engine::{Engine, Stats};
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::tendril::{Addr, Tendril};

/// One of a transport's own counters or gauges ([`Manager::transport_metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportMetric {
    /// Its name, in Prometheus's conventions (`tendril_quic_retries_total`).
    pub name: &'static str,
    /// One sentence on what it counts.
    pub help: &'static str,
    /// True for a counter (it only grows), false for a gauge.
    pub counter: bool,
    /// Its value now.
    pub value: u64,
}

impl TransportMetric {
    /// A counter.
    pub fn counter(name: &'static str, help: &'static str, value: u64) -> Self {
        TransportMetric {
            name,
            help,
            counter: true,
            value,
        }
    }

    /// A gauge.
    pub fn gauge(name: &'static str, help: &'static str, value: u64) -> Self {
        TransportMetric {
            name,
            help,
            counter: false,
            value,
        }
    }
}

/// A manager: one endpoint of one transport, its connections, and their lifecycle.
///
/// A transport implements two methods, [`engine`](Self::engine) and
/// [`as_any`](Self::as_any); everything else is provided, the same for every transport.
/// Starting is generic over the application and lives on the concrete types
/// ([`TcpManager::start`](crate::TcpManager::start), ...), connecting is [`Connect`].
/// The trait is object-safe (the registry holds `Arc<dyn Manager>`); the typed lookups
/// are for concrete types (on a `dyn Manager`, through `manager.engine()` or
/// [`Registry::find_tendril`](crate::Registry::find_tendril)).
pub trait Manager: fmt::Debug + Send + Sync + 'static {
    /// The engine that runs this manager's connections.
    fn engine(&self) -> &Engine;

    /// The concrete manager, for downcasting.
    fn as_any(&self) -> &dyn Any;

    /// The transport's registered name.
    fn transport(&self) -> &str {
        &self.engine().inner.transport
    }

    /// The endpoint the manager was made for.
    fn endpoint(&self) -> &Addr {
        &self.engine().inner.endpoint
    }

    /// Where it is bound, once started (port 0 resolved) or, for UDP, once it opened
    /// its socket to connect out ([`Addr::as_inet`] for the socket address).
    fn local(&self) -> Option<&Addr> {
        self.engine().bound()
    }

    /// True between a successful start and `stop`/`shutdown`.
    fn running(&self) -> bool {
        self.engine().is_running()
    }

    /// Stops accepting; live connections go on.
    fn stop(&self) {
        self.engine().stop_accepting();
    }

    /// Stops accepting and closes every connection now
    /// ([`CloseReason::Local`](crate::CloseReason)).
    fn shutdown(&self) {
        self.engine().close_all();
    }

    /// Stops accepting; each connection answers what its peer had sent, flushes the
    /// replies and closes; after `deadline` the rest are closed at once. Resolves to
    /// true if every connection finished in time.
    ///
    /// "What its peer had sent" is exact: the frames in flight, those already read and
    /// not yet decoded, and the input the socket holds, read without waiting for more
    /// (while a read returns data at once) up to 1 MiB beyond what had been read when
    /// the shutdown began; a frame cut by that bound or by the end of what had arrived
    /// is not answered. A peer that stops reading its answers holds its connection
    /// until `deadline`.
    fn graceful_shutdown(&self, deadline: Duration) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        Box::pin(self.engine().drain(deadline))
    }

    /// True once `shutdown` or `graceful_shutdown` was called.
    fn is_shut_down(&self) -> bool {
        self.engine().is_closing()
    }

    /// A snapshot of the counters.
    fn stats(&self) -> Stats {
        self.engine().snapshot()
    }

    /// The transport's own counters and gauges, beside the engine's, for the
    /// `metrics` feature's `record` to publish with the same labels (a QUIC manager's
    /// handshakes and Retries, say). None by default.
    fn transport_metrics(&self) -> Vec<TransportMetric> {
        Vec::new()
    }

    /// The (local, remote) addresses of every open connection.
    fn connections(&self) -> Vec<(Addr, Addr)> {
        self.engine().open_pairs()
    }

    /// The newest open connection between `local` and `remote`, if its frames are
    /// `In`/`Out` (`let tendril: Tendril = manager.tendril(local, remote)?` for the
    /// `Bytes` frames of the built-in framers).
    fn tendril<In: 'static, Out: 'static>(
        &self,
        local: impl Into<Addr>,
        remote: impl Into<Addr>,
    ) -> Option<Tendril<In, Out>>
    where
        Self: Sized,
    {
        self.engine().find(&local.into(), &remote.into())
    }

    /// Every open connection whose frames are `In`/`Out`.
    fn tendrils<In: 'static, Out: 'static>(&self) -> Vec<Tendril<In, Out>>
    where
        Self: Sized,
    {
        self.engine().open_tendrils()
    }
}

/// An engine is a manager of its own: what a transport that needs no type of its own
/// (a receive loop holding the engine, a plug-in's single connection) calls.
impl Manager for Engine {
    fn engine(&self) -> &Engine {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// How a manager connects out through wrapper `W`: the one connecting surface of every
/// manager (streams through a wrapper of their stream, UDP through a wrapper of the
/// peer's datagrams), and what a `Client` connects with.
pub trait Connect<W>: Manager + Clone {
    /// Where a connection goes: a socket address, a path.
    type Target: Clone + Send + Sync + 'static;

    /// Connects to `target`, wraps the connection with `wrapper`
    /// ([`NoWrapper`](crate::wrap::NoWrapper) for none, a `TlsClient`, ...) and runs
    /// `acceptor`'s application on it, with the initial `framers`. Resolves once the
    /// acceptor has accepted.
    ///
    /// # Errors
    ///
    /// I/O errors from connecting; [`Error::is_wrap`] if the wrapper failed;
    /// [`Error::is_application`] if the acceptor refused or failed;
    /// [`Error::is_closed`] after shutdown.
    fn connect_with_framers<A, In, Out>(
        &self,
        target: Self::Target,
        acceptor: A,
        wrapper: W,
        framers: FramerSwitch<In, Out>,
    ) -> impl Future<Output = Result<Tendril<In, Out>, Error>> + Send + 'static
    where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static;

    /// [`connect_with_framers`](Self::connect_with_framers) with `Bytes` frames and the
    /// identity framer both ways (the acceptor may set others).
    ///
    /// # Errors
    ///
    /// As [`connect_with_framers`](Self::connect_with_framers).
    fn connect<A>(
        &self,
        target: Self::Target,
        acceptor: A,
        wrapper: W,
    ) -> impl Future<Output = Result<Tendril, Error>> + Send + 'static
    where
        A: Acceptor<Bytes, Bytes> + Send + 'static,
    {
        self.connect_with_framers(target, acceptor, wrapper, FramerSwitch::default())
    }
}
