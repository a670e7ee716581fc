//! What every manager offers: the [`Manager`] trait, its whole common surface provided
//! over the manager's [`Engine`], and [`ConnectStream`], the connecting half of a stream
//! transport.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{Engine, Stats};
use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::tendril::{Addr, Tendril};
use crate::wrap::{Io, Wrapper};

/// A manager: one endpoint of one transport, its connections, and their lifecycle.
///
/// A transport implements two methods, [`engine`](Self::engine) and
/// [`as_any`](Self::as_any); everything else is provided, the same for every transport.
/// Starting and connecting are generic over the application and live on the concrete
/// types ([`TcpManager::start`](crate::TcpManager::start), ...). The trait is
/// object-safe (the registry holds `Arc<dyn Manager>`); the generic lookups are for
/// concrete types only.
pub trait Manager: fmt::Debug + Send + Sync + 'static {
    /// The engine that runs this manager's connections.
    fn engine(&self) -> &Engine;

    /// The concrete manager, for downcasting.
    fn as_any(&self) -> &dyn Any;

    /// The transport's registered name.
    fn transport(&self) -> &str {
        self.engine().transport()
    }

    /// The endpoint the manager was made for.
    fn endpoint(&self) -> &Addr {
        self.engine().endpoint()
    }

    /// Where it listens, once started (port 0 resolved).
    fn local(&self) -> Option<&Addr> {
        self.engine().local()
    }

    /// The bound socket address once started, for IP transports.
    fn local_addr(&self) -> Option<SocketAddr> {
        self.engine().local_addr()
    }

    /// True between a successful start and `stop`/`shutdown`.
    fn running(&self) -> bool {
        self.engine().running()
    }

    /// Stops accepting; live connections go on.
    fn stop(&self) {
        self.engine().stop();
    }

    /// Stops accepting and closes every connection now
    /// ([`CloseReason::Local`](crate::CloseReason)).
    fn shutdown(&self) {
        self.engine().shutdown();
    }

    /// Stops accepting; each connection answers what its peer had sent (the frames in
    /// flight, and those already received but not yet decoded: the input is read
    /// without waiting for more, one further chunk at most from a peer still
    /// sending), flushes the replies and closes; after `deadline` the rest are closed
    /// at once. Resolves to true if every connection finished in time.
    fn graceful_shutdown(&self, deadline: Duration) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        Box::pin(self.engine().graceful_shutdown(deadline))
    }

    /// A snapshot of the counters.
    fn stats(&self) -> Stats {
        self.engine().stats()
    }

    /// The newest open connection between `local` and `remote`, as a type-erased
    /// [`Tendril`] (see [`tendril_as`](Self::tendril_as) for the typed lookup).
    fn connection(&self, local: &Addr, remote: &Addr) -> Option<Arc<dyn Any + Send + Sync>> {
        self.engine().find(local, remote)
    }

    /// The (local, remote) addresses of every open connection.
    fn connections(&self) -> Vec<(Addr, Addr)> {
        self.engine().connections()
    }

    /// The open connection between `local` and `remote` (with `Bytes` frames).
    fn tendril(&self, local: impl Into<Addr>, remote: impl Into<Addr>) -> Option<Tendril>
    where
        Self: Sized,
    {
        self.tendril_as(local, remote)
    }

    /// The open connection between `local` and `remote`, if its frames are `In`/`Out`.
    fn tendril_as<In: 'static, Out: 'static>(
        &self,
        local: impl Into<Addr>,
        remote: impl Into<Addr>,
    ) -> Option<Tendril<In, Out>>
    where
        Self: Sized,
    {
        self.connection(&local.into(), &remote.into())?
            .downcast_ref::<Tendril<In, Out>>()
            .cloned()
    }

    /// Every open connection whose frames are `In`/`Out`.
    fn tendrils<In: 'static, Out: 'static>(&self) -> Vec<Tendril<In, Out>>
    where
        Self: Sized,
    {
        self.engine().tendrils()
    }
}

/// The connecting half of a stream transport (TCP, Unix, a plug-in's): how it dials.
/// Connecting through a wrapper and the engine is the same for every transport
/// ([`connect_stream`]), and a [`Client`](crate::client::Client) dials any of them.
pub trait ConnectStream: Manager + Clone {
    /// Where a connection goes: a socket address, a path.
    type Target: Clone + Send + Sync + 'static;
    /// The raw stream a wrapper gets.
    type Stream: Io;

    /// Dials `target`: the stream, its local address and its remote one.
    fn dial(
        &self,
        target: &Self::Target,
    ) -> impl Future<Output = io::Result<(Self::Stream, Addr, Addr)>> + Send;
}

/// Dials `target` through `manager`, wraps the stream with `wrapper`, and runs
/// `acceptor`'s application on the connection, with the initial `framers`: what every
/// stream manager's `connect_with_framers` does. Resolves once the acceptor accepted.
///
/// # Errors
///
/// I/O errors from dialling; [`Error::is_wrap`] if the wrapper failed;
/// [`Error::is_application`] if the acceptor refused or failed; [`Error::is_closed`]
/// after shutdown.
pub async fn connect_stream<M, A, W, In, Out>(
    manager: &M,
    target: M::Target,
    acceptor: A,
    wrapper: W,
    framers: FramerSwitch<In, Out>,
) -> Result<Tendril<In, Out>, Error>
where
    M: ConnectStream,
    A: Acceptor<In, Out>,
    W: Wrapper<M::Stream>,
    In: Send + 'static,
    Out: Send + 'static,
{
    let engine = manager.engine();
    if engine.is_shut_down() {
        return Err(Error::closed());
    }
    let (stream, local, remote) = manager.dial(&target).await?;
    engine
        .connect(stream, local, remote, framers, acceptor, wrapper)
        .await
}
