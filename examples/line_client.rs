//! line_client: send lines from stdin to a line server, print its replies.
//!
//! ```text
//! cargo run --release --example line_client -- [--server ADDR]
//! ```
//!
//! Connects to `--server` (default `127.0.0.1:7000`, where the `echo` example listens)
//! with `TcpManager::connect`. The client application prints every frame the server
//! sends, solicited or not; lines read from stdin are pushed with `send_frame`. At the
//! end of stdin it waits up to two seconds for the replies still due, then closes.

#[path = "shared/cli.rs"]
mod cli;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cli::{value, Cli};
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Connect, TcpManager, Tendril};
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::service_fn;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(
        "line_client",
        "[--server ADDR]",
        "Sends each line of stdin to a line server and prints every line it answers.",
        &[value(
            "--server",
            "ADDR",
            "the server (default 127.0.0.1:7000)",
        )],
    );
    let server: SocketAddr = cli.parsed_or("--server", ([127, 0, 0, 1], 7000).into());

    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let manager = TcpManager::new("0.0.0.0:0".parse().unwrap());
    let acceptor = acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
        tendril.set_framers(LineFramer::new(), LineFramer::new())?;
        let counter = counter.clone();
        Ok(service_fn(move |line: Bytes| {
            println!("{}", String::from_utf8_lossy(&line));
            counter.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, BoxError>(()) }
        }))
    });
    let tendril = cli.or_exit(manager.connect(server, acceptor, NoWrapper).await);

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut sent = 0u64;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if tendril.send_frame(Bytes::from(line)).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
                Ok(None) => break,
                Err(err) => {
                    eprintln!("line_client: reading stdin: {err:#}");
                    break;
                }
            },
            reason = tendril.closed() => {
                eprintln!("line_client: connection {reason}");
                return ExitCode::SUCCESS;
            }
        }
    }
    // Wait (bounded) for the replies still due, then close.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while received.load(Ordering::Relaxed) < sent
        && tokio::time::Instant::now() < deadline
        && !tendril.is_closed()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tendril.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tendril.closed()).await;
    ExitCode::SUCCESS
}
