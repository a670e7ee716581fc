//! binary_lines: a line protocol that switches to a chunk framer for a `BINARY n` body
//! and back.
//!
//! ```text
//! cargo run --example binary_lines -- [--listen ADDR]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:7300`) and prints `listening on tcp ADDR`
//! once bound. Commands are CRLF lines:
//!
//! - `ECHO text` answers `+text`;
//! - `BINARY n` announces a body of exactly `n` raw bytes (any bytes, line breaks
//!   included) sent right after the command's line; once all `n` have arrived the
//!   server answers `+OK n bytes, L line breaks` and reads lines again. `BINARY 0` is
//!   an empty body, answered at once;
//! - anything else answers `-ERR unknown command`; an `n` that is not a number
//!   `-ERR bad length`.
//!
//! The body is never buffered whole: the chunk framer hands it over in pieces of
//! whatever size arrived, so `n` may be larger than memory. Bytes that follow the body
//! in the same read (the next command) are not lost: the line framer decodes them
//! after the switch back.
//!
//! Try it with `printf 'BINARY 5\r\nab\ncdECHO hi\r\n' | nc 127.0.0.1 7300`.

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
use tendril_net::framer::{ChunkFramer, LineFramer};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager, Tendril};

/// Where a connection is in the protocol.
enum State {
    /// Reading command lines.
    Lines,
    /// Inside a body: its announced length, bytes seen, line breaks counted.
    Body { length: u64, seen: u64, breaks: u64 },
}

/// Handles one frame (a line, or a piece of a body) and says what to answer.
fn handle(state: &mut State, tendril: &Tendril, frame: Bytes) -> Result<Option<String>, BoxError> {
    match state {
        State::Lines => {
            let line = String::from_utf8_lossy(&frame);
            if let Some(text) = line.strip_prefix("ECHO ") {
                return Ok(Some(format!("+{text}")));
            }
            let Some(length) = line.strip_prefix("BINARY ") else {
                return Ok(Some("-ERR unknown command".to_owned()));
            };
            let Ok(length) = length.trim().parse::<u64>() else {
                return Ok(Some("-ERR bad length".to_owned()));
            };
            // The switch applies at this frame's boundary: the bytes already read
            // behind this line are the body's, and the chunk framer gets them. A body
            // of 0 bytes is one empty frame, delivered at once.
            tendril.set_recv_framer(ChunkFramer::new(length))?;
            *state = State::Body {
                length,
                seen: 0,
                breaks: 0,
            };
            Ok(None)
        }
        State::Body {
            length,
            seen,
            breaks,
        } => {
            *seen += frame.len() as u64;
            *breaks += memchr::memchr_iter(b'\n', &frame).count() as u64;
            if *seen < *length {
                return Ok(None);
            }
            let answer = format!("+OK {length} bytes, {breaks} line breaks");
            tendril.set_recv_framer(LineFramer::new())?;
            *state = State::Lines;
            Ok(Some(answer))
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(
        "binary_lines",
        "[--listen ADDR]",
        "A line protocol whose `BINARY n` command switches to a chunk framer for n raw bytes.",
        &[value(
            "--listen",
            "ADDR",
            "where to listen (default 127.0.0.1:7300)",
        )],
    );
    let listen: SocketAddr = cli.parsed_or("--listen", ([127, 0, 0, 1], 7300).into());
    let shutdown = shutdown_signal();
    let manager = TcpManager::new(listen);
    let acceptor = acceptor_fn(|tendril: Tendril| {
        tendril.set_framers(LineFramer::new(), LineFramer::new())?;
        let mut state = State::Lines;
        // One frame at a time (the default), so the state needs no lock: the closure
        // runs for each frame in order, and the reply future only carries the answer.
        Ok(service(move |frame: Bytes| {
            let answer = handle(&mut state, &tendril, frame);
            async move { answer }
        }))
    });
    let addr = cli.or_exit(manager.start(acceptor, NoWrapper));
    println!("listening on tcp {addr}");
    shutdown.await;
    manager.graceful_shutdown(Duration::from_secs(5)).await;
    ExitCode::SUCCESS
}
