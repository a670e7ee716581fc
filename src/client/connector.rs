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

/// One `Connector` impl: the manager (`$manager`, a clone of `self`) connects in a
/// `'static` future.
macro_rules! connector {
    (
        $(#[$attr:meta])*
        impl [$($generics:tt)*] for $ty:ty, Target = $target:ty,
        |$manager:ident, $t:ident, $a:ident, $f:ident| $connect:expr
    ) => {
        $(#[$attr])*
        impl<In: Send + 'static, Out: Send + 'static, $($generics)*> Connector<In, Out> for $ty {
            type Target = $target;

            fn connect<A>(
                &self,
                $t: $target,
                $a: A,
                $f: FramerSwitch<In, Out>,
            ) -> BoxFuture<'static, Result<Tendril<In, Out>, Error>>
            where
                A: Acceptor<In, Out> + Send + 'static,
            {
                let $manager = self.clone();
                Box::pin(async move { $connect })
            }
        }
    };
}

connector!(
    impl [] for TcpManager, Target = SocketAddr,
    |manager, target, acceptor, framers| {
        manager.connect_with_framers(target, acceptor, NoWrapper, framers).await
    }
);

connector!(
    impl [W: Wrapper<TcpStream> + Clone + Sync] for (TcpManager, W), Target = SocketAddr,
    |pair, target, acceptor, framers| {
        let (manager, wrapper) = pair;
        manager.connect_with_framers(target, acceptor, wrapper, framers).await
    }
);

connector!(
    impl [] for UdpManager, Target = SocketAddr,
    |manager, target, acceptor, framers| {
        manager.connect_with_framers(target, acceptor, framers).await
    }
);

connector!(
    #[cfg(unix)]
    impl [] for crate::UnixManager, Target = std::path::PathBuf,
    |manager, target, acceptor, framers| {
        manager.connect_with_framers(target, acceptor, NoWrapper, framers).await
    }
);
