//! chat: a line chat server: what one client says, every other client hears.
//!
//! ```text
//! cargo run --example chat -- [--listen ADDR]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:7200`) and prints `listening on tcp ADDR`
//! once bound. Each client gets `* welcome ADDR` (its own address), every other client
//! `* ADDR joined`; each line a client sends reaches all the others as `ADDR: line`;
//! when a client leaves, the others get `* ADDR left`. Lines end in CRLF or LF and are
//! at most 1 KiB: a longer one closes that client's connection (a framing error).
//!
//! It shows pushing frames to other connections (`Manager::tendrils` lists the live
//! ones, `Tendril::try_send_frame` queues without waiting) and leaving on close
//! (`Tendril::closed`). A client that does not read while others talk fills its
//! outbound queue (more than 64 lines and 128 KiB waiting for it, once its socket
//! buffers are full): it is closed instead of slowing the room down or holding memory.
//! A burst (one client pasting 300 lines, 100 clients joining at once) fits: it is
//! queued for readers whose tasks have not run yet, not taken for slowness. SIGINT or
//! SIGTERM shut down gracefully.
//!
//! Try it with `nc 127.0.0.1 7200` in two terminals.

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/signal.rs"]
mod signal;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use cli::{value, Cli};
use signal::shutdown_signal;
use tendril_net::app::{acceptor_fn, service};
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{Manager, TcpManager, Tendril};

/// Longest line a client may send.
const MAX_LINE: usize = 1024;

/// Sends `message` to every live connection but `except`; a connection whose queue is
/// full (more than 64 lines and 128 KiB waiting: a client that does not read) is
/// closed.
fn broadcast(manager: &TcpManager, except: u64, message: &str) {
    for other in manager.tendrils::<Bytes, Bytes>() {
        if other.id() == except {
            continue;
        }
        if other
            .try_send_frame(Bytes::from(message.to_owned()))
            .is_err()
            && !other.is_closed()
        {
            other.close_with("too slow: the chat queue for this client is full");
        }
    }
}

fn name(tendril: &Tendril) -> String {
    tendril
        .remote()
        .as_inet()
        .map_or_else(|| format!("#{}", tendril.id()), |addr| addr.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(
        "chat",
        "[--listen ADDR]",
        "A chat room over CRLF lines: every line goes to every other client.",
        &[value(
            "--listen",
            "ADDR",
            "where to listen (default 127.0.0.1:7200)",
        )],
    );
    let listen: SocketAddr = cli.parsed_or("--listen", ([127, 0, 0, 1], 7200).into());
    let shutdown = shutdown_signal();
    // A client is too slow once more than 64 lines and 128 KiB of them wait for it: a
    // burst to clients whose tasks have not run yet fits, a client that stopped
    // reading does not.
    let manager = TcpManager::builder(listen)
        .outbound_queue(64)
        .outbound_bytes(128 * 1024)
        .build();
    let room = manager.clone();
    let acceptor = acceptor_fn(move |tendril| {
        tendril.set_framers(
            LineFramer::new().max_frame_length(MAX_LINE),
            LineFramer::new(),
        )?;
        let me = name(&tendril);
        tendril.try_send_frame(Bytes::from(format!("* welcome {me}")))?;
        broadcast(&room, tendril.id(), &format!("* {me} joined"));
        // Leaving: whatever the reason, the others hear it once.
        let (left, id, who) = (room.clone(), tendril.id(), me.clone());
        let closed = tendril.closed();
        tokio::spawn(async move {
            closed.await;
            broadcast(&left, id, &format!("* {who} left"));
        });
        let room = room.clone();
        Ok(service(move |line: Bytes| {
            broadcast(
                &room,
                id,
                &format!("{me}: {}", String::from_utf8_lossy(&line)),
            );
            async move { Ok(()) }
        }))
    });
    let addr = cli.or_exit(manager.start(acceptor, NoWrapper));
    println!("listening on tcp {addr}");
    shutdown.await;
    manager.graceful_shutdown(Duration::from_secs(5)).await;
    ExitCode::SUCCESS
}
