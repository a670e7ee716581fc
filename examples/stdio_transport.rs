//! A transport written outside the crate, with its public items only: standard input
//! and output as one connection, the way LSP and DAP servers run (the editor starts the
//! server and talks to it over its standard streams).
//!
//! The transport (`shared/stdio.rs`) holds an `Engine`, implements `Manager` (two
//! methods), builds from a `Builder` (so `call_timeout` and the other connection
//! settings apply), hands the stream to `Engine::serve`; this program registers it as
//! `"stdio"`: the connection is then in the same table, bounds, stats, shutdown and
//! `find_tendril` as a TCP connection is.
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
#[path = "shared/stdio.rs"]
mod stdio;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cli::{value, Cli};
use stdio::{Stdio, StdioManager};
use tendril_net::app::{acceptor_fn, service};
use tendril_net::framer::{named, FramerSwitch};
use tendril_net::{Addr, BoxError, Error, Manager, Registry, Tendril};

#[path = "shared/signal.rs"]
mod signal;

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
