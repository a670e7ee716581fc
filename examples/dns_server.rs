//! dns_server: an authoritative DNS server for a few A records, over UDP and TCP.
//!
//! ```text
//! cargo run --release --example dns_server -- [--listen ADDR] [--record NAME=IPV4]...
//!     [--delay NAME=MS]...
//! ```
//!
//! Serves the same application over UDP (identity framer: one datagram, one message)
//! and TCP (2-byte big-endian length prefix) on the same port of `--listen` (default
//! `127.0.0.1:5353`), printing `listening on udp ADDR` and `listening on tcp ADDR`.
//! A queries for configured names get an authoritative answer (TTL 60) echoing the
//! question and ID; other types for a known name get NOERROR without answer; unknown
//! names NXDOMAIN; opcodes other than QUERY NOTIMP; malformed messages FORMERR when the
//! header is readable, and no reply otherwise. EDNS OPT records are tolerated (ignored).
//!
//! Over TCP, pipelined queries (up to 64 per connection) are answered in completion
//! order, as RFC 7766 allows: each answer carries its query's ID, so a slow answer does
//! not hold back the others. `--delay NAME=MS` delays the answers for NAME by MS
//! milliseconds, to show it: `dns_client --tcp --parallel 8` gets the other answers
//! first. SIGINT or SIGTERM shut both down gracefully (2 s to finish) and exit 0.
//!
//! ```text
//! dig @127.0.0.1 -p 5353 example.test A          # over UDP
//! dig @127.0.0.1 -p 5353 +tcp example.test A     # over TCP
//! ```

#[path = "shared/cli.rs"]
mod cli;
#[path = "dns/message.rs"]
mod message;
#[path = "shared/signal.rs"]
mod signal;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cli::{value, Cli};
use message::{
    Header, Question, RCODE_FORMERR, RCODE_NOERROR, RCODE_NOTIMP, RCODE_NXDOMAIN, TYPE_A,
};
use signal::shutdown_signal;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::{ByteOrder, LengthFramer, LengthPrefix};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, ReplyOrder, TcpManager, Tendril, UdpManager};
use tower::service_fn;

type Records = Arc<HashMap<String, Ipv4Addr>>;

/// Names whose answers are delayed, and by how long.
type Delays = Arc<HashMap<String, Duration>>;

/// The name a query asks about, lowercased, if it can be read.
fn question_name(msg: &[u8]) -> Option<String> {
    let (question, _) = message::read_question(msg).ok()?;
    Some(question.name.trim_end_matches('.').to_ascii_lowercase())
}

/// The answer to one DNS message; `None` when not even the header is readable.
fn answer(records: &Records, msg: &[u8]) -> Option<Bytes> {
    let header = Header::parse(msg)?;
    if header.is_response() {
        return None;
    }
    let reply = if header.opcode() != 0 {
        message::response(&header, None, RCODE_NOTIMP, None)
    } else {
        match message::read_question(msg) {
            Ok((question, _)) if header.qdcount == 1 => respond(records, &header, &question),
            _ => message::response(&header, None, RCODE_FORMERR, None),
        }
    };
    Some(Bytes::from(reply))
}

fn respond(records: &Records, header: &Header, question: &Question) -> Vec<u8> {
    let name = question.name.trim_end_matches('.');
    match records.get(name) {
        None => message::response(header, Some(question), RCODE_NXDOMAIN, None),
        Some(addr) if question.qtype == TYPE_A => {
            message::response(header, Some(question), RCODE_NOERROR, Some(*addr))
        }
        Some(_) => message::response(header, Some(question), RCODE_NOERROR, None),
    }
}

struct Args {
    listen: SocketAddr,
    records: Records,
    delays: Delays,
}

fn parse_args() -> Args {
    let cli = Cli::parse(
        "dns_server",
        "[--listen ADDR] [--record NAME=IPV4]... [--delay NAME=MS]...",
        "An authoritative DNS server for the A records given, over UDP and TCP on one port.",
        &[
            value(
                "--listen",
                "ADDR",
                "where to listen, UDP and TCP (default 127.0.0.1:5353)",
            ),
            value(
                "--record",
                "NAME=IPV4",
                "answer NAME's A query with IPV4 (repeat for more)",
            ),
            value(
                "--delay",
                "NAME=MS",
                "answer NAME after MS milliseconds (repeat for more)",
            ),
        ],
    );
    let pair = |flag: &str, text: &str, what: &str| -> (String, String) {
        let Some((name, value)) = text.split_once('=') else {
            cli.fail(format!("{flag} {text}: expected {what}"));
        };
        (
            name.trim_end_matches('.').to_ascii_lowercase(),
            value.to_owned(),
        )
    };
    let mut records = HashMap::new();
    for text in cli.all("--record") {
        let (name, addr) = pair("--record", text, "NAME=IPV4");
        records.insert(name, cli.parse_value("--record", &addr));
    }
    let mut delays = HashMap::new();
    for text in cli.all("--delay") {
        let (name, ms) = pair("--delay", text, "NAME=MS");
        delays.insert(name, Duration::from_millis(cli.parse_value("--delay", &ms)));
    }
    Args {
        listen: cli.parsed_or("--listen", ([127, 0, 0, 1], 5353).into()),
        records: Arc::new(records),
        delays: Arc::new(delays),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let Args {
        listen,
        records,
        delays,
    } = parse_args();
    let shutdown = shutdown_signal();
    // The same application for both transports; only the framer differs.
    let application = |records: Records, delays: Delays| {
        service_fn(move |msg: Bytes| {
            let reply = answer(&records, &msg);
            let delay = question_name(&msg).and_then(|name| delays.get(&name).copied());
            async move {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                Ok::<_, BoxError>(reply)
            }
        })
    };
    // Both transports on one port. With port 0 the port UDP gets may be taken for TCP
    // (by some other connection): then try another, a bounded number of times.
    let attempts = if listen.port() == 0 { 20 } else { 1 };
    let mut bound = None;
    let mut last_error = String::new();
    for _ in 0..attempts {
        let udp = UdpManager::new(listen);
        let (udp_records, udp_delays) = (records.clone(), delays.clone());
        let udp_acceptor = acceptor_fn(move |_: Tendril| -> Result<_, BoxError> {
            Ok(application(udp_records.clone(), udp_delays.clone()))
        });
        let udp_addr = match udp.start(udp_acceptor, NoWrapper) {
            Ok(addr) => addr,
            Err(err) => {
                last_error = format!("{err:#}");
                continue;
            }
        };
        // Pipelined TCP queries are answered as they are ready (RFC 7766 §6.2.1.1).
        let tcp = TcpManager::builder(udp_addr)
            .max_in_flight(64)
            .reply_order(ReplyOrder::Completion)
            .build();
        let (tcp_records, tcp_delays) = (records.clone(), delays.clone());
        match tcp.start(
            acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
                let framer = LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian)
                    .max_frame_length(65_535);
                tendril.set_framers(framer.clone(), framer)?;
                Ok(application(tcp_records.clone(), tcp_delays.clone()))
            }),
            NoWrapper,
        ) {
            Ok(tcp_addr) => {
                bound = Some((udp, udp_addr, tcp, tcp_addr));
                break;
            }
            Err(err) => {
                last_error = format!("{err:#}");
                udp.shutdown();
            }
        }
    }
    let Some((udp, udp_addr, tcp, tcp_addr)) = bound else {
        eprintln!("dns_server: {last_error}");
        return ExitCode::FAILURE;
    };
    println!("listening on udp {udp_addr}");
    println!("listening on tcp {tcp_addr}");
    shutdown.await;
    let deadline = Duration::from_secs(2);
    let (_, _) = tokio::join!(
        udp.graceful_shutdown(deadline),
        tcp.graceful_shutdown(deadline)
    );
    ExitCode::SUCCESS
}
