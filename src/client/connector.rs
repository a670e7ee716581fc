//! How a client opens its connection: the managers as connectors.

use std::net::SocketAddr;

use futures_util::future::BoxFuture;

use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::manager::{connect_stream, ConnectStream};
use crate::tendril::Tendril;
use crate::wrap::{NoWrapper, Wrapper};
use crate::UdpManager;

/// Opens a connection to a target with an acceptor and framers: what a
/// [`Client`](super::Client) needs from a manager. Implemented for every stream
/// manager ([`ConnectStream`]: `TcpManager`, `UnixManager`, a plug-in's) and for
/// `(manager, wrapper)` for a wrapped connection (TLS), and for [`UdpManager`].
pub trait Connector<In, Out>: Send + Sync + 'static {
    /// Where to connect: a socket address, a path.
    type Target: Clone + Send + 'static;

    /// Connects to `target` and runs `acceptor`'s application on the connection.
    fn connect<A>(
        &self,
        target: Self::Target,
        acceptor: A,
        framers: FramerSwitch<In, Out>,
    ) -> BoxFuture<'static, Result<Tendril<In, Out>, Error>>
    where
        A: Acceptor<In, Out> + Send + 'static;
}

impl<M, In, Out> Connector<In, Out> for M
where
    M: ConnectStream,
    In: Send + 'static,
    Out: Send + 'static,
{
    type Target = M::Target;

    fn connect<A>(
        &self,
        target: M::Target,
        acceptor: A,
        framers: FramerSwitch<In, Out>,
    ) -> BoxFuture<'static, Result<Tendril<In, Out>, Error>>
    where
        A: Acceptor<In, Out> + Send + 'static,
    {
        let manager = self.clone();
        Box::pin(
            async move { connect_stream(&manager, target, acceptor, NoWrapper, framers).await },
        )
    }
}

impl<M, W, In, Out> Connector<In, Out> for (M, W)
where
    M: ConnectStream,
    W: Wrapper<M::Stream> + Clone + Sync,
    In: Send + 'static,
    Out: Send + 'static,
{
    type Target = M::Target;

    fn connect<A>(
        &self,
        target: M::Target,
        acceptor: A,
        framers: FramerSwitch<In, Out>,
    ) -> BoxFuture<'static, Result<Tendril<In, Out>, Error>>
    where
        A: Acceptor<In, Out> + Send + 'static,
    {
        let (manager, wrapper) = self.clone();
        Box::pin(async move { connect_stream(&manager, target, acceptor, wrapper, framers).await })
    }
}

impl<In: Send + 'static, Out: Send + 'static> Connector<In, Out> for UdpManager {
    type Target = SocketAddr;

    fn connect<A>(
        &self,
        target: SocketAddr,
        acceptor: A,
        framers: FramerSwitch<In, Out>,
    ) -> BoxFuture<'static, Result<Tendril<In, Out>, Error>>
    where
        A: Acceptor<In, Out> + Send + 'static,
    {
        let manager = self.clone();
        Box::pin(async move {
            manager
                .connect_with_framers(target, acceptor, framers)
                .await
        })
    }
}
