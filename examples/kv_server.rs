//! kv_server: a tiny in-memory key-value server over a CRLF line protocol.
//!
//! ```text
//! cargo run --release --example kv_server -- [--listen ADDR]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:7100`) and prints `listening on tcp ADDR`
//! once bound. Commands, one per line: `SET k v` answers `OK`, `GET k` answers
//! `VALUE v` or `NOT_FOUND`, `DEL k` answers `DELETED` or `NOT_FOUND`, anything else
//! `ERROR <reason>`. Keys are single words, a value is the rest of the line; the store
//! holds at most 1,000,000 keys. Answers come in request order, so clients may
//! pipeline (see the `kv_client` example). SIGINT or SIGTERM shut down gracefully.
//!
//! Try it with `printf 'SET a 1\r\nGET a\r\n' | nc 127.0.0.1 7100`.

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/signal.rs"]
mod signal;
#[path = "kv/store.rs"]
mod store;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use cli::{value, Cli};
use signal::shutdown_signal;
use store::Store;
use tendril_net::wrap::NoWrapper;
use tendril_net::{Manager, TcpManager};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(
        "kv_server",
        "[--listen ADDR]",
        "An in-memory key-value server over CRLF lines (SET k v, GET k, DEL k).",
        &[value(
            "--listen",
            "ADDR",
            "where to listen (default 127.0.0.1:7100)",
        )],
    );
    let listen: SocketAddr = cli.parsed_or("--listen", ([127, 0, 0, 1], 7100).into());
    let shutdown = shutdown_signal();
    let manager = TcpManager::new(listen);
    let addr = cli.or_exit(manager.start(store::acceptor(Store::default()), NoWrapper));
    println!("listening on tcp {addr}");
    shutdown.await;
    manager.graceful_shutdown(Duration::from_secs(5)).await;
    ExitCode::SUCCESS
}
