//! dns_client: ask a DNS server for the A records of a name.
//!
//! ```text
//! cargo run --release --example dns_client -- NAME [--server ADDR] [--tcp | --tls | --quic]
//!     [--tls-ca PEM] [--tls-name NAME] [--parallel N]
//! ```
//!
//! Sends the query to `--server` (default `127.0.0.1:5353`) over UDP, or TCP with
//! `--tcp`, through a multiplexed [`Client`](tendril_net::client::Client): each query
//! carries its own DNS ID (the client's tag), so with `--parallel N` (default 1) the N
//! queries are in flight at once and each answer is matched to its query whatever the
//! order. Over UDP the manager's `connect` tracks the server as a peer, so its replies
//! reach the client. Prints `NAME A ADDRESS` per answer of each query (or the response
//! code), and gives up on a query after 2 seconds with a clear message.
//!
//! `--tls` asks over DNS over TLS (RFC 7858), the same multiplexed client on a TLS
//! connection; `--quic` over DNS over QUIC (RFC 9250) with a stream-per-request client
//! (`tendril_quic::StreamPerRequest`): each query its own stream, message ID 0, its
//! readiness the connection's stream credit. Both trust the certificate in `--tls-ca`
//! (the server's own, for a self-signed one) for the name `--tls-name` (default
//! `localhost`).

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
use tendril_net::framer::FramerSwitch;
use tendril_net::wrap::{tls_client_config, NoWrapper, TlsClientLayer, WrapperChain};
use tendril_net::{BoxError, TcpManager, UdpManager};
use tendril_quic::{Quic, QuicManager, QuicTarget, StreamPerRequest};
use tower::util::BoxService;
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

/// How the queries travel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
    Tls,
    Quic,
}

struct Args {
    name: String,
    server: SocketAddr,
    transport: Transport,
    tls_ca: Option<String>,
    tls_name: String,
    parallel: usize,
}

/// A 2-byte length, then the message: DNS over TCP, TLS and QUIC.
fn length_framer() -> FramerSwitch {
    FramerSwitch::symmetric(message::stream_framer())
}

fn parse_args() -> Args {
    let cli = Cli::parse(
        "dns_client",
        "NAME [--server ADDR] [--tcp | --tls | --quic] [--tls-ca PEM] [--tls-name NAME] [--parallel N]",
        "Asks a DNS server for NAME's A record over UDP, TCP, TLS or QUIC.",
        &[
            value(
                "--server",
                "ADDR",
                "the DNS server (default 127.0.0.1:5353)",
            ),
            switch("--tcp", "ask over TCP (length-prefixed) instead of UDP"),
            switch("--tls", "ask over TLS (RFC 7858)"),
            switch("--quic", "ask over QUIC (RFC 9250), a stream per query"),
            value(
                "--tls-ca",
                "PEM",
                "TLS and QUIC: the certificate to trust (the server's own if self-signed)",
            ),
            value(
                "--tls-name",
                "NAME",
                "TLS and QUIC: the server's certificate name (default localhost)",
            ),
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
    let transport = match (cli.has("--tcp"), cli.has("--tls"), cli.has("--quic")) {
        (false, false, false) => Transport::Udp,
        (true, false, false) => Transport::Tcp,
        (false, true, false) => Transport::Tls,
        (false, false, true) => Transport::Quic,
        _ => cli.fail("--tcp, --tls and --quic exclude each other"),
    };
    let tls_ca = cli.get("--tls-ca").map(str::to_owned);
    if matches!(transport, Transport::Tls | Transport::Quic) && tls_ca.is_none() {
        cli.fail("--tls and --quic need --tls-ca PEM (the certificate to trust)");
    }
    Args {
        name: name.clone(),
        server: cli.parsed_or("--server", ([127, 0, 0, 1], 5353).into()),
        transport,
        tls_ca,
        tls_name: cli.get("--tls-name").unwrap_or("localhost").to_owned(),
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
    let client = match connect(&args, any).await {
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
        // The ID is written by the tagger (over QUIC it stays 0, as RFC 9250 asks).
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

/// The queries' service for the transport asked for: a multiplexed client (UDP, TCP,
/// TLS), or a stream per query (QUIC).
async fn connect(
    args: &Args,
    any: SocketAddr,
) -> Result<BoxService<Bytes, Bytes, BoxError>, BoxError> {
    let server = args.server;
    let builder = Client::multiplexed(DnsId).max_in_flight(args.parallel);
    let roots = || -> Result<_, BoxError> {
        let pem = std::fs::read(args.tls_ca.as_deref().unwrap_or_default())?;
        Ok(tls_client_config(&pem)?)
    };
    let client = match args.transport {
        Transport::Udp => {
            // One datagram is one message.
            let udp = UdpManager::new(any);
            builder
                .connect(&udp, server, NoWrapper, FramerSwitch::default())
                .await?
        }
        Transport::Tcp => builder.connect_tcp(server, length_framer()).await?,
        Transport::Tls => {
            let tls = TlsClientLayer::new(roots()?, &args.tls_name)?;
            builder
                .connect(
                    &TcpManager::new(any),
                    server,
                    WrapperChain::new().layer(tls),
                    length_framer(),
                )
                .await?
        }
        Transport::Quic => {
            let mut tls = roots()?;
            tls.alpn_protocols = vec![b"doq".to_vec()];
            let quic = QuicManager::new(Quic::new(any).client_tls(tls)?);
            let target = QuicTarget::new(server, args.tls_name.clone());
            let connection = quic.connect_connection(&target).await?;
            // Each query is a stream of its own, ID 0 (RFC 9250 §4.2.1).
            let streams = StreamPerRequest::new(connection, length_framer);
            return Ok(BoxService::new(streams.map_err(BoxError::from)));
        }
    };
    Ok(BoxService::new(client.map_err(BoxError::from)))
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
