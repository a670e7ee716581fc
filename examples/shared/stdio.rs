//! A transport written outside the crate, with its public items only: standard input
//! and output as one connection, the way LSP and DAP servers run (the editor starts the
//! server and talks to it over its standard streams). Used by the `stdio_transport`
//! and `jsonrpc_server` examples.
//!
//! It holds an `Engine`, implements `Manager` (two methods), builds from a `Builder`
//! (so `call_timeout` and the other connection settings apply), and hands the stream
//! to `Engine::serve`: the connection is then in the same table, bounds, stats,
//! shutdown and `find_tendril` as a TCP connection is.

use std::any::Any;
use std::path::Path;

use tendril_net::app::Acceptor;
use tendril_net::framer::FramerSwitch;
use tendril_net::manager::{Bounds, BuildManager, Builder, Engine};
use tendril_net::wrap::box_io;
use tendril_net::{Addr, BoxError, ConnectionConfig, Manager, Tendril};
use tower::ServiceExt;

/// The stdio transport's own options: none.
#[derive(Debug, Clone)]
pub struct Stdio;

impl Stdio {
    /// Where this side reads: its standard input.
    pub fn local() -> Addr {
        Addr::from(Path::new("/dev/stdin"))
    }

    /// The other end of the pipes: the process that started this one.
    pub fn remote() -> Addr {
        Addr::Unnamed(0)
    }
}

/// One connection, stdin and stdout, on an engine of its own.
#[derive(Debug, Clone)]
pub struct StdioManager {
    engine: Engine,
}

impl BuildManager for Stdio {
    type Manager = StdioManager;

    fn build(builder: &Builder<Stdio>) -> StdioManager {
        let config = builder.connection_config().clone();
        StdioManager {
            engine: Engine::new("stdio", Stdio::local(), config, *builder.bounds()),
        }
    }
}

impl StdioManager {
    /// One connection at most, none shed for a newcomer (there is never one), the
    /// connection defaults.
    pub fn builder() -> Builder<Stdio> {
        Builder::new(Stdio, Bounds::new(1, None), ConnectionConfig::default())
    }

    /// Serves stdin and stdout as one connection with `framers`: the connection once
    /// `acceptor` accepted it.
    pub async fn start<A, In, Out>(
        &self,
        mut acceptor: A,
        framers: FramerSwitch<In, Out>,
    ) -> Result<Tendril<In, Out>, BoxError>
    where
        A: Acceptor<In, Out>,
        In: Send + 'static,
        Out: Send + 'static,
    {
        // Bound once: a second start is refused, as for every manager.
        self.engine.start(|| Ok(((), Stdio::local())))?;
        ServiceExt::<Tendril<In, Out>>::ready(&mut acceptor)
            .await
            .map_err(Into::into)?;
        let io = box_io(tokio::io::join(tokio::io::stdin(), tokio::io::stdout()));
        let (tendril, accepted) =
            self.engine
                .serve(io, Stdio::local(), Stdio::remote(), framers, &mut acceptor);
        accepted.await?;
        Ok(tendril)
    }
}

impl Manager for StdioManager {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
