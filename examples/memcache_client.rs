//! memcache_client: drives a memcached server (the real one, or the memcache_server
//! example) through a pipelined tower client.
//!
//! ```text
//! cargo run --release --example memcache_client -- [--server ADDR] [--requests N]
//!     [--value-size BYTES]
//! ```
//!
//! Connects to `--server` (default `127.0.0.1:11211`) and sends `--requests` requests
//! (default 10,000), alternately `set kI` of a `--value-size`-byte value (default 100;
//! each value has a CRLF inside, which only the data block's length delimits) and `get
//! kI`, up to 64 on the wire at once, then one `get` of up to 10 keys; every answer is
//! checked. Prints `N requests in S s (R requests/s), a get of K keys` and exits 0, or
//! exits 1 on a wrong or missing answer.
//!
//! A pipelined client matches the n-th response to the n-th request, so each response
//! must decode as one frame: the receive framer (`memcache/reply.rs`) cuts a `get`'s
//! whole answer, `VALUE` lines, data blocks and `END`, as one frame. (`noreply` has
//! no response, so a pipelined client must not send it.) The send framer is identity:
//! a request is its command line and data block, written whole.

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/pipeline.rs"]
mod pipeline;
#[path = "memcache/reply.rs"]
mod reply;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use cli::{value, Cli};
use pipeline::drive;
use reply::{values, ReplyFramer};
use tendril_net::client::Client;
use tendril_net::framer::{FramerSwitch, IdentityFramer};
use tendril_net::{BoxError, Error};
use tower::{Service, ServiceBuilder, ServiceExt};

const IN_FLIGHT: usize = 64;

/// The largest reply taken: ten values of memcached's 1 MiB maximum, and their lines.
const MAX_REPLY: usize = 11 << 20;

/// The value stored under key `i`: `size` bytes, a CRLF among them.
fn value_of(i: usize, size: usize) -> Bytes {
    let mut value = format!("value {i}\r\n").into_bytes();
    value.resize(size.max(value.len()), b'.');
    Bytes::from(value)
}

/// Request `n` and the reply it must get.
fn request(n: usize, size: usize) -> (Bytes, Bytes) {
    let i = n / 2;
    if n % 2 == 0 {
        let value = value_of(i, size);
        let mut set = BytesMut::with_capacity(value.len() + 40);
        set.put_slice(format!("set k{i} 0 0 {}\r\n", value.len()).as_bytes());
        set.put_slice(&value);
        set.put_slice(b"\r\n");
        (set.freeze(), Bytes::from_static(b"STORED\r\n"))
    } else {
        let value = value_of(i, size);
        let mut reply = BytesMut::with_capacity(value.len() + 40);
        reply.put_slice(format!("VALUE k{i} 0 {}\r\n", value.len()).as_bytes());
        reply.put_slice(&value);
        reply.put_slice(b"\r\nEND\r\n");
        (Bytes::from(format!("get k{i}\r\n")), reply.freeze())
    }
}

/// `Ok` if `answer` is the `expected` reply.
fn check(expected: &Bytes, answer: Result<Bytes, BoxError>) -> Result<(), String> {
    match answer {
        Ok(answer) if answer == expected => Ok(()),
        Ok(answer) => Err(format!(
            "expected {:?}, got {:?}",
            String::from_utf8_lossy(expected),
            String::from_utf8_lossy(&answer)
        )),
        Err(err) => Err(failure(&err)),
    }
}

/// What the user is told about a failed request: a closed connection says so.
fn failure(err: &BoxError) -> String {
    match Error::find(&**err) {
        Some(found) if found.is_closed() => format!("the server closed the connection: {err:#}"),
        _ => format!("{err:#}"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(
        "memcache_client",
        "[--server ADDR] [--requests N] [--value-size BYTES]",
        "Stores and reads back values on a memcached server through a pipelined client, \
         checking every answer.",
        &[
            value(
                "--server",
                "ADDR",
                "the memcached server (default 127.0.0.1:11211)",
            ),
            value(
                "--requests",
                "N",
                "how many set and get requests (default 10,000)",
            ),
            value(
                "--value-size",
                "BYTES",
                "the size of each value (default 100)",
            ),
        ],
    );
    let server: SocketAddr = cli.parsed_or("--server", ([127, 0, 0, 1], 11211).into());
    let requests: usize = cli.parsed_or("--requests", 10_000);
    let size: usize = cli.parsed_or("--value-size", 100);
    // Dialled without a manager: one untracked connection is all a client needs.
    let client = Client::<Bytes>::pipelined()
        .max_in_flight(IN_FLIGHT)
        .connect_tcp(
            server,
            FramerSwitch::with_framers(ReplyFramer::new(MAX_REPLY), IdentityFramer::new()),
        )
        .await;
    let client = cli.or_exit(client);
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .service(client);

    let start = Instant::now();
    let checked = drive(
        &mut service,
        requests,
        IN_FLIGHT,
        |n| request(n, size),
        |expected, answer| check(&expected, answer),
    )
    .await;
    if let Err(message) = checked {
        eprintln!("memcache_client: {message}");
        return ExitCode::FAILURE;
    }
    let seconds = start.elapsed().as_secs_f64();

    // One request, many values: the whole answer is one frame.
    let stored = requests.div_ceil(2).min(10);
    let keys: Vec<String> = (0..stored).map(|i| format!("k{i}")).collect();
    let get = Bytes::from(format!("get {}\r\n", keys.join(" ")));
    let answer = match service.ready().await {
        Ok(ready) => ready.call(get).await,
        Err(err) => Err(err),
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => {
            eprintln!("memcache_client: {}", failure(&err));
            return ExitCode::FAILURE;
        }
    };
    let found = values(&answer);
    let expected: Vec<(Bytes, Bytes)> = (0..stored)
        .map(|i| (Bytes::from(format!("k{i}")), value_of(i, size)))
        .collect();
    if found != expected || !answer.ends_with(b"END\r\n") {
        eprintln!(
            "memcache_client: the get of {stored} keys answered {:?}",
            String::from_utf8_lossy(&answer)
        );
        return ExitCode::FAILURE;
    }
    println!(
        "{requests} requests in {seconds:.3} s ({:.0} requests/s), a get of {stored} keys",
        requests as f64 / seconds.max(f64::EPSILON)
    );
    ExitCode::SUCCESS
}
