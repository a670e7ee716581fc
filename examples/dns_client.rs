//! dns_client: ask a DNS server for the A records of a name.
//!
//! ```text
//! cargo run --release --example dns_client -- NAME [--server ADDR] [--tcp] [--parallel N]
//! ```
//!
//! Sends the query to `--server` (default `127.0.0.1:5353`) over UDP, or TCP with
//! `--tcp`, through a multiplexed [`Client`](tendril_net::client::Client): each query
//! carries its own DNS ID (the client's tag), so with `--parallel N` (default 1) the N
//! queries are in flight at once and each answer is matched to its query whatever the
//! order. Over UDP the manager's `connect` tracks the server as a peer, so its replies
//! reach the client. Prints `NAME A ADDRESS` per answer of each query (or the response
//! code), and gives up on a query after 2 seconds with a clear message.

#[path = "shared/cli.rs"]
mod cli;
#[path = "dns/message.rs"]
mod message;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cli::{switch, value, Cli};
use futures_util::future::join_all;
use tendril_net::client::{Client, Tagger};
use tendril_net::framer::{ByteOrder, FramerSwitch, LengthFramer, LengthPrefix};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, UdpManager};
use tower::{Service, ServiceBuilder, ServiceExt};

/// The DNS ID, the first two bytes of every message, is the client's tag.
struct DnsId;

impl Tagger<Bytes, Bytes> for DnsId {
    fn tag(&self, query: Bytes, tag: u64) -> Bytes {
        let mut query = BytesMut::from(query);
        if query.len() >= 2 {
            query[..2].copy_from_slice(&(tag as u16).to_be_bytes());
        }
        query.freeze()
    }

    fn tag_of(&self, reply: &Bytes) -> Option<u64> {
        (reply.len() >= 2).then(|| u64::from(u16::from_be_bytes([reply[0], reply[1]])))
    }
}

struct Args {
    name: String,
    server: SocketAddr,
    tcp: bool,
    parallel: usize,
}

fn parse_args() -> Args {
    let cli = Cli::parse(
        "dns_client",
        "NAME [--server ADDR] [--tcp] [--parallel N]",
        "Asks a DNS server for NAME's A record over UDP or TCP, through a multiplexed client.",
        &[
            value(
                "--server",
                "ADDR",
                "the DNS server (default 127.0.0.1:5353)",
            ),
            switch("--tcp", "ask over TCP (length-prefixed) instead of UDP"),
            value(
                "--parallel",
                "N",
                "send N queries at once on the one connection (default 1)",
            ),
        ],
    );
    let [name] = &cli.positional[..] else {
        cli.fail("give one NAME to look up");
    };
    let parallel = cli.parsed_or("--parallel", 1);
    if parallel == 0 {
        cli.fail("--parallel must be at least 1");
    }
    Args {
        name: name.clone(),
        server: cli.parsed_or("--server", ([127, 0, 0, 1], 5353).into()),
        tcp: cli.has("--tcp"),
        parallel,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse_args();
    let server = args.server;
    let any: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .unwrap();
    let builder = Client::multiplexed(DnsId).max_in_flight(args.parallel);
    let connected = if args.tcp {
        let framer =
            LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian).max_frame_length(65_535);
        builder
            .connect_tcp(server, FramerSwitch::symmetric(framer))
            .await
    } else {
        // One datagram is one message.
        builder
            .connect(
                &UdpManager::new(any),
                server,
                NoWrapper,
                FramerSwitch::default(),
            )
            .await
    };
    let client = match connected {
        Ok(client) => client,
        Err(err) => {
            eprintln!("dns_client: cannot reach {server}: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_secs(2))
        .service(client);
    let mut queries = Vec::new();
    for _ in 0..args.parallel {
        // The ID is written by the tagger.
        let query = Bytes::from(message::query(0, &args.name, message::TYPE_A));
        match service.ready().await {
            Ok(ready) => queries.push(ready.call(query)),
            Err(err) => {
                eprintln!("dns_client: {err:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut status = ExitCode::SUCCESS;
    for reply in join_all(queries).await {
        if !print_answer(&args.name, server, reply) {
            status = ExitCode::FAILURE;
        }
    }
    status
}

/// Prints one query's answer; false if there was none.
fn print_answer(name: &str, server: SocketAddr, reply: Result<Bytes, BoxError>) -> bool {
    let reply = match reply {
        Ok(reply) => reply,
        Err(err) if err.is::<tower::timeout::error::Elapsed>() => {
            eprintln!("dns_client: no answer from {server} within 2 s");
            return false;
        }
        Err(err) => {
            eprintln!("dns_client: {err:#}");
            return false;
        }
    };
    match message::answers(&reply) {
        Ok((header, addrs)) if header.rcode() == message::RCODE_NOERROR => {
            for addr in &addrs {
                println!("{name} A {addr}");
            }
            if addrs.is_empty() {
                println!("{name}: no A record");
            }
            true
        }
        Ok((header, _)) => {
            let rcode = match header.rcode() {
                message::RCODE_NXDOMAIN => "NXDOMAIN".to_owned(),
                message::RCODE_FORMERR => "FORMERR".to_owned(),
                message::RCODE_NOTIMP => "NOTIMP".to_owned(),
                other => format!("rcode {other}"),
            };
            println!("{name}: {rcode}");
            true
        }
        Err(err) => {
            eprintln!("dns_client: {err:#}");
            false
        }
    }
}
