//! dns_server: an authoritative DNS server for a few A records, over UDP, TCP, TLS and
//! QUIC.
//!
//! ```text
//! cargo run --release --example dns_server -- [--listen ADDR] [--record NAME=IPV4]...
//!     [--delay NAME=MS]... [--tls ADDR] [--quic ADDR]
//!     [--tls-self-signed | --tls-cert PEM --tls-key PEM]
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
//! `--tls ADDR` adds DNS over TLS (RFC 7858: the TCP framing inside TLS, pipelined the
//! same way) and prints `listening on tls ADDR`; `--quic ADDR` adds DNS over QUIC (RFC
//! 9250: ALPN `doq`, one query per stream, the 2-byte length prefix, message ID 0 on
//! the wire; each stream is finished after its answer) and prints `listening on quic
//! ADDR`. Both use the certificate of `--tls-cert`/`--tls-key`, or one for `localhost`
//! made at start. The same application answers on all four.
//!
//! ```text
//! dig @127.0.0.1 -p 5353 example.test A          # over UDP
//! dig @127.0.0.1 -p 5353 +tcp example.test A     # over TCP
//! kdig @127.0.0.1 -p 8853 +tls example.test A    # over TLS (dig +tls too)
//! kdig @127.0.0.1 -p 8853 +quic example.test A   # over QUIC
//! ```

#[path = "shared/cli.rs"]
mod cli;
#[path = "dns/message.rs"]
mod message;
#[path = "shared/signal.rs"]
mod signal;
#[path = "tls/config.rs"]
mod tls_config;

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
use tendril_net::framer::FramerSwitch;
use tendril_net::wrap::{NoWrapper, TlsServerLayer, WrapperChain};
use tendril_net::{BoxError, Manager, ReplyOrder, TcpManager, Tendril, UdpManager};
use tendril_quic::{Quic, QuicManager};
use tls_config::TlsSource;
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
    tls: Option<SocketAddr>,
    quic: Option<SocketAddr>,
    certificate: TlsSource,
}

fn parse_args() -> Args {
    let mut flags = vec![
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
        value(
            "--tls",
            "ADDR",
            "also serve DNS over TLS (RFC 7858) on ADDR",
        ),
        value(
            "--quic",
            "ADDR",
            "also serve DNS over QUIC (RFC 9250) on ADDR",
        ),
    ];
    flags.extend(tls_config::FLAGS);
    let cli = Cli::parse(
        "dns_server",
        "[--listen ADDR] [--record NAME=IPV4]... [--delay NAME=MS]... [--tls ADDR] [--quic ADDR]",
        "An authoritative DNS server for the A records given, over UDP and TCP on one port, \
         and over TLS and QUIC.",
        &flags,
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
    let certificate = match tls_config::source(&cli) {
        Ok(TlsSource::None) => TlsSource::SelfSigned,
        Ok(source) => source,
        Err(message) => cli.fail(message),
    };
    Args {
        listen: cli.parsed_or("--listen", ([127, 0, 0, 1], 5353).into()),
        records: Arc::new(records),
        delays: Arc::new(delays),
        tls: cli.parsed("--tls"),
        quic: cli.parsed("--quic"),
        certificate,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let Args {
        listen,
        records,
        delays,
        tls,
        quic,
        certificate,
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
                tendril.set_framers(message::stream_framer(), message::stream_framer())?;
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
    let mut managers: Vec<Box<dyn Manager>> = vec![Box::new(udp), Box::new(tcp)];
    let secure =
        |addr, what: &str, started: Result<(Box<dyn Manager>, SocketAddr), BoxError>| match started
        {
            Ok((manager, bound)) => {
                println!("listening on {what} {bound}");
                Ok(manager)
            }
            Err(err) => Err(format!("--{what} {addr}: {err:#}")),
        };
    if let Some(addr) = tls {
        let started = serve_tls(
            addr,
            &certificate,
            application(records.clone(), delays.clone()),
        );
        match secure(addr, "tls", started) {
            Ok(manager) => managers.push(manager),
            Err(message) => {
                eprintln!("dns_server: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(addr) = quic {
        let (records, delays) = (records.clone(), delays.clone());
        let started = serve_quic(addr, &certificate, move || {
            application(records.clone(), delays.clone())
        });
        match secure(addr, "quic", started) {
            Ok(manager) => managers.push(manager),
            Err(message) => {
                eprintln!("dns_server: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    shutdown.await;
    let deadline = Duration::from_secs(2);
    futures_util::future::join_all(managers.iter().map(|m| m.graceful_shutdown(deadline))).await;
    ExitCode::SUCCESS
}

/// DNS over TLS on `addr`: the TCP framing and pipelining inside TLS.
fn serve_tls<S>(
    addr: SocketAddr,
    certificate: &TlsSource,
    application: S,
) -> Result<(Box<dyn Manager>, SocketAddr), BoxError>
where
    S: tower::Service<Bytes, Response = Option<Bytes>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let config = tls_config::server_config(certificate, "localhost")?.ok_or("no TLS")?;
    let manager = TcpManager::builder(addr)
        .max_in_flight(64)
        .reply_order(ReplyOrder::Completion)
        .build();
    let bound = manager.start(
        acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
            tendril.set_framers(message::stream_framer(), message::stream_framer())?;
            Ok(application.clone())
        }),
        WrapperChain::new().layer(TlsServerLayer::new(config)),
    )?;
    Ok((Box::new(manager), bound))
}

/// DNS over QUIC on `addr`: ALPN `doq`, one query per stream; each stream finished
/// after its answer.
fn serve_quic<M, S>(
    addr: SocketAddr,
    certificate: &TlsSource,
    application: M,
) -> Result<(Box<dyn Manager>, SocketAddr), BoxError>
where
    M: Fn() -> S + Send + Sync + 'static,
    S: tower::Service<Bytes, Response = Option<Bytes>, Error = BoxError> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut config = tls_config::server_config(certificate, "localhost")?.ok_or("no TLS")?;
    config.alpn_protocols = vec![b"doq".to_vec()];
    let manager = QuicManager::new(Quic::new(addr).server_tls(config)?);
    let bound = manager.start_with_framers(
        acceptor_fn(move |stream: Tendril| -> Result<_, BoxError> {
            let mut answer = application();
            Ok(service_fn(move |query: Bytes| {
                // One query per stream: the stream is finished once this answer is out.
                stream.close();
                answer.call(query)
            }))
        }),
        || FramerSwitch::symmetric(message::stream_framer()),
    )?;
    Ok((Box::new(manager), bound))
}
