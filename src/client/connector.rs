//! How a client opens its connection: the managers as connectors.

use std::net::SocketAddr;

use futures_util::future::BoxFuture;
use tokio::net::TcpStream;

use crate::app::Acceptor;
use crate::error::Error;
use crate::framer::FramerSwitch;
use crate::tendril::Tendril;
use crate::wrap::{NoWrapper, Wrapper};
use crate::{TcpManager, UdpManager};

/// Opens a connection to a target with an acceptor and framers: what a
/// [`Client`](super::Client) needs from a manager. Implemented for [`TcpManager`],
/// [`UdpManager`], `UnixManager`, and `(TcpManager, wrapper)` for a wrapped connection
/// (TLS).
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

impl<In: Send + 'static, Out: Send + 'static> Connector<In, Out> for TcpManager {
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
                .connect_with_framers(target, acceptor, NoWrapper, framers)
                .await
        })
    }
}

impl<In, Out, W> Connector<In, Out> for (TcpManager, W)
where
    In: Send + 'static,
    Out: Send + 'static,
    W: Wrapper<TcpStream> + Clone + Sync,
{
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
        let (manager, wrapper) = self.clone();
        Box::pin(async move {
            manager
                .connect_with_framers(target, acceptor, wrapper, framers)
                .await
        })
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

#[cfg(unix)]
impl<In: Send + 'static, Out: Send + 'static> Connector<In, Out> for crate::UnixManager {
    type Target = std::path::PathBuf;

    fn connect<A>(
        &self,
        target: std::path::PathBuf,
        acceptor: A,
        framers: FramerSwitch<In, Out>,
    ) -> BoxFuture<'static, Result<Tendril<In, Out>, Error>>
    where
        A: Acceptor<In, Out> + Send + 'static,
    {
        let manager = self.clone();
        Box::pin(async move {
            manager
                .connect_with_framers(target, acceptor, NoWrapper, framers)
                .await
        })
    }
}
