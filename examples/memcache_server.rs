//! memcache_server: a memcached-compatible server (the text protocol) in memory.
//!
//! ```text
//! cargo run --release --example memcache_server -- [--listen ADDR] [--max-bytes BYTES]
//!     [--max-item BYTES]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:11211`, memcached's port; port 0 picks a
//! free one) and prints `listening on tcp ADDR` once bound. Commands, as memcached's
//! text protocol has them: `set`, `add`, `replace`, `cas` (`<key> <flags> <exptime>
//! <bytes> [<cas unique>] [noreply]`, then the data block), `get` and `gets` with one or
//! more keys, `delete <key> [noreply]`, `version`, `quit`. Any memcached client works
//! (the tests use Python's pymemcache).
//!
//! The recipe for a length-announced body: a command line announces `n` bytes, so the
//! session switches the receive framer to `ChunkFramer::whole(n + 2)`, gets the data
//! block and its CRLF as the next frame, and switches back to the line framer. A value
//! over `--max-item` (default 1 MiB, as memcached's `-I`) is answered `SERVER_ERROR
//! object too large for cache` and its block read past in pieces, never buffered; the
//! store holds at most `--max-bytes` (default 64 MiB) of keys and values, beyond which
//! a store is answered `SERVER_ERROR out of memory storing object` (no eviction), and a
//! `get` whose answer would pass 16 MiB `SERVER_ERROR out of memory writing get
//! response` (one 8 KiB line may name a 1 MiB value thousands of times). A command line
//! longer than 8 KiB closes the connection (logged at info). Replies are
//! whole protocol lines, so the send framer is identity, and a `get` answers with the
//! stored value itself (no copy). SIGINT or SIGTERM shut down gracefully.
//!
//! Try it with `printf 'set a 0 0 5\r\nhello\r\nget a\r\n' | nc -q1 127.0.0.1 11211`.

#[path = "shared/cli.rs"]
mod cli;
#[path = "memcache/session.rs"]
mod session;
#[path = "shared/signal.rs"]
mod signal;
#[path = "memcache/store.rs"]
mod store;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cli::{value, Cli};
use session::{command_framer, Replies, Session, Shared};
use signal::shutdown_signal;
use store::Store;
use tendril_net::app::{acceptor_fn, boxed, BoxApp};
use tendril_net::framer::IdentityFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{Manager, TcpManager, Tendril};

/// A connection's application, built in a function of its own and returned boxed.
fn application(shared: Arc<Shared>, tendril: Tendril) -> BoxApp<Bytes, Replies> {
    boxed(Session::new(shared, tendril))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(
        "memcache_server",
        "[--listen ADDR] [--max-bytes BYTES] [--max-item BYTES]",
        "An in-memory server speaking memcached's text protocol.",
        &[
            value(
                "--listen",
                "ADDR",
                "where to listen (default 127.0.0.1:11211)",
            ),
            value(
                "--max-bytes",
                "BYTES",
                "the most the store holds, keys and values (default 64 MiB)",
            ),
            value(
                "--max-item",
                "BYTES",
                "the largest value stored (default 1 MiB)",
            ),
        ],
    );
    let listen: SocketAddr = cli.parsed_or("--listen", ([127, 0, 0, 1], 11211).into());
    let shared = Arc::new(Shared {
        store: Mutex::new(Store::new(cli.parsed_or("--max-bytes", 64 << 20))),
        max_item: cli.parsed_or("--max-item", 1 << 20),
    });
    let shutdown = shutdown_signal();
    let manager = TcpManager::new(listen);
    let acceptor = acceptor_fn(move |tendril: Tendril| {
        tendril.set_framers(command_framer(), IdentityFramer::new())?;
        Ok(application(shared.clone(), tendril))
    });
    let addr = cli.or_exit(manager.start(acceptor, NoWrapper));
    println!("listening on tcp {addr}");
    shutdown.await;
    manager.graceful_shutdown(Duration::from_secs(5)).await;
    ExitCode::SUCCESS
}
