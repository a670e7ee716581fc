//! kv_client: drives a kv_server through a pipelined tower client.
//!
//! ```text
//! cargo run --release --example kv_client -- [--server ADDR] [--requests N]
//! ```
//!
//! Connects to `--server` (default `127.0.0.1:7100`) and sends `--requests` commands
//! (default 10,000): alternately `SET kI vI` and `GET kI`, through a `ServiceBuilder`
//! stack (a 5 s timeout per request and a concurrency limit of 64) over a pipelined
//! [`Client`](tendril_net::client::Client), so up to 64 requests are on the wire at
//! once. Every answer is checked (`OK`, then `VALUE vI`). Prints one line:
//! `N requests in S s (R requests/s)`; exits with status 1 on a wrong or missing answer.

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/pipeline.rs"]
mod pipeline;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cli::{value, Cli};
use pipeline::drive;
use tendril_net::client::Client;
use tendril_net::framer::{FramerSwitch, LineFramer};
use tower::ServiceBuilder;

const IN_FLIGHT: usize = 64;

fn parse_args() -> (Cli, SocketAddr, usize) {
    let cli = Cli::parse(
        "kv_client",
        "[--server ADDR] [--requests N]",
        "Drives a kv_server with pipelined SET and GET requests and checks every answer.",
        &[
            value("--server", "ADDR", "the kv_server (default 127.0.0.1:7100)"),
            value("--requests", "N", "how many requests (default 10,000)"),
        ],
    );
    let server = cli.parsed_or("--server", ([127, 0, 0, 1], 7100).into());
    let requests = cli.parsed_or("--requests", 10_000);
    (cli, server, requests)
}

/// Request `i` and the answer it must get.
fn request(i: usize) -> (Bytes, String) {
    let key = i / 2;
    if i % 2 == 0 {
        (Bytes::from(format!("SET k{key} v{key}")), "OK".to_owned())
    } else {
        (Bytes::from(format!("GET k{key}")), format!("VALUE v{key}"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let (cli, server, requests) = parse_args();
    // Dialled without a manager: one untracked connection is all a client needs.
    let client = Client::<Bytes>::pipelined()
        .max_in_flight(IN_FLIGHT)
        .connect_tcp(server, FramerSwitch::symmetric(LineFramer::new()))
        .await;
    let client = cli.or_exit(client);
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .concurrency_limit(IN_FLIGHT)
        .service(client);

    let start = Instant::now();
    let checked = drive(
        &mut service,
        requests,
        IN_FLIGHT,
        request,
        |expected, answer| match answer {
            Ok(answer) if answer == expected => Ok(()),
            Ok(answer) => Err(format!(
                "expected {expected:?}, got {:?}",
                String::from_utf8_lossy(&answer)
            )),
            Err(err) => Err(format!("{err:#}")),
        },
    )
    .await;
    if let Err(message) = checked {
        eprintln!("kv_client: {message}");
        return ExitCode::FAILURE;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{requests} requests in {seconds:.3} s ({:.0} requests/s)",
        requests as f64 / seconds.max(f64::EPSILON)
    );
    ExitCode::SUCCESS
}
