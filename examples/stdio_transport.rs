//! A transport written outside the crate, with its public items only: standard input
//! and output as one connection, the way LSP and DAP servers run (the editor starts the
//! server and talks to it over its standard streams).
//!
//! It holds an `Engine`, implements `Manager` (two methods), builds from a `Builder`
//! (so `call_timeout` and the other connection settings apply), hands the stream to
//! `Engine::serve`, and registers as `"stdio"`: the connection is then in the same
//! table, bounds, stats, shutdown and `find_tendril` as a TCP connection is.
//!
//! ```sh
//! printf 'hello\nworld\n' | cargo run --example stdio_transport
//! ```
//!
//! answers `1 hello` and `2 world` on stdout (each frame numbered, with the framer
//! `--framer NAME` picks, `line-lf` by default) and, once stdin ends, reports on stderr
//! how the connection closed (`closed by the peer`) and its stats. SIGTERM or SIGINT
//! shuts it down gracefully.

#[path = "shared/cli.rs"]
mod cli;

use std::any::Any;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cli::{value, Cli};
use tendril_net::app::{acceptor_fn, service, Acceptor};
use tendril_net::framer::{named, FramerSwitch};
use tendril_net::manager::{Bounds, BuildManager, Builder, Engine};
use tendril_net::wrap::box_io;
use tendril_net::{Addr, BoxError, ConnectionConfig, Error, Manager, Registry, Tendril};
use tower::ServiceExt;

#[path = "shared/signal.rs"]
mod signal;

/// The stdio transport's own options: none.
#[derive(Debug, Clone)]
struct Stdio;

impl Stdio {
    /// Where this side reads: its standard input.
    fn local() -> Addr {
        Addr::from(Path::new("/dev/stdin"))
    }

    /// The other end of the pipes: the process that started this one.
    fn remote() -> Addr {
        Addr::Unnamed(0)
    }
}

/// One connection, stdin and stdout, on an engine of its own.
#[derive(Debug, Clone)]
struct StdioManager {
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
    fn builder() -> Builder<Stdio> {
        Builder::new(Stdio, Bounds::new(1, None), ConnectionConfig::default())
    }

    /// Serves stdin and stdout as one connection with `framers`: the connection once
    /// `acceptor` accepted it.
    async fn start<A>(&self, mut acceptor: A, framers: FramerSwitch) -> Result<Tendril, BoxError>
    where
        A: Acceptor<Bytes, Bytes>,
    {
        // Bound once: a second start is refused, as for every manager.
        self.engine.start(|| Ok(((), Stdio::local())))?;
        ServiceExt::<Tendril>::ready(&mut acceptor)
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

fn framer() -> Result<FramerSwitch, String> {
    let cli = Cli::parse(
        "stdio_transport",
        "[--framer NAME]",
        "Serves one connection over stdin and stdout, a transport plugged in from outside \
         the crate: each frame is answered with its number and itself.",
        &[value(
            "--framer",
            "NAME",
            "the framer both ways (default line-lf)",
        )],
    );
    let name = cli.get("--framer").unwrap_or("line-lf");
    let (recv, send) = named(name).ok_or_else(|| format!("no framer named {name:?}"))?;
    Ok(FramerSwitch::new(recv, send))
}

async fn run(framers: FramerSwitch) -> Result<(), BoxError> {
    let registry = Arc::new(Registry::new());
    registry.register("stdio", |_: &Addr| -> Result<Arc<dyn Manager>, Error> {
        let builder = StdioManager::builder().call_timeout(Some(Duration::from_secs(30)));
        Ok(Arc::new(builder.build()))
    });
    let manager: StdioManager = registry.get("stdio", Stdio::local())?;
    let lookup = registry.clone();
    let tendril = manager
        .start(
            acceptor_fn(move |tendril: Tendril| {
                // Found through the registry, as a TCP connection is (looked up here,
                // while it is surely open: input that ends at once closes it soon).
                let found: Option<Tendril> =
                    lookup.find_tendril("stdio", (Stdio::local(), Stdio::remote()));
                eprintln!(
                    "stdio: connection {} registered as {}",
                    tendril.id(),
                    match found {
                        Some(found) if found.id() == tendril.id() => "found by find_tendril",
                        _ => "NOT FOUND",
                    }
                );
                let mut count = 0u64;
                Ok(service(move |frame: Bytes| {
                    count += 1;
                    let reply = format!("{count} {}", String::from_utf8_lossy(&frame));
                    async move { Ok(Bytes::from(reply)) }
                }))
            }),
            framers,
        )
        .await?;
    let reason = tokio::select! {
        reason = tendril.closed() => reason,
        _ = signal::shutdown_signal() => {
            // Answer what has arrived, then close.
            manager.graceful_shutdown(Duration::from_secs(5)).await;
            tendril.closed().await
        }
    };
    eprintln!("stdio: {reason}; {}", manager.stats());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let framers = match framer() {
        Ok(framers) => framers,
        Err(message) => {
            eprintln!("stdio_transport: {message}");
            return ExitCode::from(2);
        }
    };
    match run(framers).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stdio_transport: {err:#}");
            ExitCode::FAILURE
        }
    }
}
