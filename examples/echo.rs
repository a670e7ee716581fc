//! echo: a frame echo server.
//!
//! ```text
//! cargo run --release --example echo -- [--transport tcp|udp|unix] [--listen ADDR]
//!     [--framer NAME] [--stats] [--max-peers N] [--idle-timeout SECS]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:7000`; port 0 picks a free port; for Unix
//! sockets a path, default `/tmp/tendril-echo.sock`), prints `listening on tcp ADDR`
//! (or `udp`, `unix`) once bound, and echoes every frame back on the
//! same connection with the same framer (`--framer`: identity, line, line-lf,
//! length-u8, length-u16, length-u32, length-u64, length-u16le, length-u32le,
//! length-i32, stuffing, cobs, cobs-zpe, netstring, nul, dot; default `line` over TCP
//! and `identity` over UDP, where each datagram is then one frame). Over UDP every
//! peer is tracked as a connection: `--max-peers` bounds the table (default 65,536) and
//! `--idle-timeout` evicts quiet peers (default 60 s); the `--stats` line then starts
//! with `peers=N` and counts `dropped` and `evicted` datagrams and peers.
//! The application is a `tower::service_fn` behind a `ServiceBuilder` stack (a
//! concurrency limit and a timeout). `--stats` prints the manager's counters once a second on stderr. SIGINT or SIGTERM
//! shut down gracefully (in-flight frames are answered) and exit with status 0.
//!
//! Try it with `printf 'hello\r\n' | nc 127.0.0.1 7000`, or with the `line_client`
//! example.

#[path = "shared/signal.rs"]
mod signal;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::{named, NAMES};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager, Tendril, UdpManager, UnixManager};
use tower::{service_fn, ServiceBuilder};

use signal::shutdown_signal;

struct Args {
    transport: String,
    /// The address (or, for Unix sockets, the path) to listen on.
    listen: String,
    framer: Option<String>,
    stats: bool,
    max_peers: usize,
    idle_timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        transport: "tcp".into(),
        listen: String::new(),
        framer: None,
        stats: false,
        max_peers: 65_536,
        idle_timeout: Duration::from_secs(60),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--transport" => args.transport = value("--transport")?,
            "--listen" => args.listen = value("--listen")?,
            "--framer" => args.framer = Some(value("--framer")?),
            "--stats" => args.stats = true,
            "--max-peers" => {
                let text = value("--max-peers")?;
                args.max_peers = text
                    .parse()
                    .map_err(|err| format!("--max-peers {text}: {err}"))?;
            }
            "--idle-timeout" => {
                let text = value("--idle-timeout")?;
                let secs: f64 = text
                    .parse()
                    .map_err(|err| format!("--idle-timeout {text}: {err}"))?;
                args.idle_timeout = Duration::try_from_secs_f64(secs)
                    .map_err(|err| format!("--idle-timeout {text}: {err}"))?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !matches!(args.transport.as_str(), "tcp" | "udp" | "unix") {
        return Err(format!(
            "unknown transport `{}` (tcp, udp or unix)",
            args.transport
        ));
    }
    if args.listen.is_empty() {
        args.listen = match args.transport.as_str() {
            "unix" => "/tmp/tendril-echo.sock".into(),
            _ => "127.0.0.1:7000".into(),
        };
    }
    if let Some(framer) = &args.framer {
        if named(framer).is_none() {
            return Err(format!(
                "unknown framer `{framer}` (names: {})",
                NAMES.join(", ")
            ));
        }
    }
    Ok(args)
}

/// The echo application on a connection, with framer `framer`.
fn echo_acceptor(framer: String) -> impl tendril_net::app::Acceptor<Bytes, Bytes> + Send + 'static {
    acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
        let (recv, send) = named(&framer).expect("checked at start");
        tendril.set_framers(recv, send)?;
        // Any tower middleware composes around the application.
        Ok(ServiceBuilder::new()
            .concurrency_limit(64)
            .timeout(Duration::from_secs(30))
            .service(service_fn(|frame: Bytes| async move {
                Ok::<_, BoxError>(frame)
            })))
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!(
                "echo: {message}\nusage: echo [--transport tcp|udp|unix] [--listen ADDR] [--framer NAME] \
                 [--stats] [--max-peers N] [--idle-timeout SECS]"
            );
            return ExitCode::from(2);
        }
    };
    let shutdown = shutdown_signal();
    let udp = args.transport == "udp";
    let framer = args
        .framer
        .clone()
        .unwrap_or_else(|| if udp { "identity" } else { "line" }.to_owned());
    let inet = || -> Result<SocketAddr, BoxError> {
        args.listen
            .parse()
            .map_err(|err| format!("--listen {}: {err}", args.listen).into())
    };
    let started: Result<(Arc<dyn Manager>, String), BoxError> = match args.transport.as_str() {
        "udp" => inet().and_then(|listen| {
            let manager = UdpManager::builder(listen)
                .max_peers(args.max_peers)
                .idle_timeout(Some(args.idle_timeout))
                .build();
            let addr = manager.start(echo_acceptor(framer))?;
            Ok((Arc::new(manager) as Arc<dyn Manager>, addr.to_string()))
        }),
        "unix" => {
            let manager = UnixManager::new(&args.listen);
            manager
                .start(echo_acceptor(framer), NoWrapper)
                .map(|()| (Arc::new(manager) as Arc<dyn Manager>, args.listen.clone()))
                .map_err(Into::into)
        }
        _ => inet().and_then(|listen| {
            let manager = TcpManager::new(listen);
            let addr = manager.start(echo_acceptor(framer), NoWrapper)?;
            Ok((Arc::new(manager) as Arc<dyn Manager>, addr.to_string()))
        }),
    };
    let (manager, addr) = match started {
        Ok(started) => started,
        Err(err) => {
            let cause = err.source().map(|c| format!(": {c}")).unwrap_or_default();
            eprintln!(
                "echo: cannot listen on {} {}: {err}{cause}",
                args.transport, args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {} {addr}", args.transport);
    let _ = std::io::stdout().flush();

    if args.stats {
        let manager = manager.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let stats = manager.stats();
                if udp {
                    eprintln!("peers={} {stats}", stats.open);
                } else {
                    eprintln!("{stats}");
                }
            }
        });
    }

    shutdown.await;
    let finished = manager.graceful_shutdown(Duration::from_secs(5)).await;
    if !finished {
        eprintln!("echo: some connections did not finish within 5 s and were closed");
    }
    ExitCode::SUCCESS
}
