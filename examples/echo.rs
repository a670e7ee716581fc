//! echo: a frame echo server.
//!
//! ```text
//! cargo run --release --example echo -- [--transport tcp|udp|unix|quic] [--listen ADDR]
//!     [--framer NAME] [--stats] [--max-peers N] [--max-connections N]
//!     [--memory-budget BYTES] [--idle-timeout SECS] [--timeout SECS] [--tower] [--global-limit N] [--socket-mode OCTAL]
//!     [--proxy-protocol] [--proxy-from CIDR]... [--max-per-ip N] [--announce]
//!     [--reuse-port] [--metrics ADDR]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:7000`; port 0 picks a free port; for Unix
//! sockets a path, default `/tmp/tendril-echo.sock`), prints `listening on tcp ADDR`
//! (or `udp`, `unix`, `quic`) once bound, and echoes every frame back on the
//! same connection with the same framer (`--framer`: identity, line, line-lf,
//! length-u8, length-u16, length-u32, length-u64, length-u16le, length-u32le,
//! length-i32, stuffing, cobs, cobs-zpe, netstring, nul, dot; default `line` over TCP
//! and `identity` over UDP, where each datagram is then one frame). Over UDP every
//! peer is tracked as a connection: `--max-peers` bounds the table (default 65,536) and
//! `--idle-timeout` closes quiet peers (default 60 s); the `--stats` line counts them
//! (the engine's `closed_idle`, `shed_idle`, ..., then UDP's own `peers`,
//! `dropped_table_full`, ...). Over TCP and Unix
//! sockets `--max-connections` (default 10,000) and `--memory-budget` (default 256 MiB)
//! set the manager's bounds across its connections (see README "Under attack").
//!
//! The application is a bare `tower::service_fn`. `--timeout SECS` bounds each call
//! with the connection's built-in call timeout (one lazily re-armed timer per
//! connection, nothing per frame); `--tower` shows composition instead: the service
//! behind a `ServiceBuilder` with tower's `ConcurrencyLimit` (64) and `Timeout`
//! (`--timeout`, default 30 s); `--global-limit N` puts one
//! `GlobalConcurrencyLimitLayer::new(N)` in front of every connection's service, shared
//! by all (a connection holds a permit only while it has a frame in hand).
//! `--socket-mode 600` sets the Unix socket file's permissions (default: as `bind`
//! makes it, `0777` less the umask). `--stats` prints the manager's counters on stderr
//! after the first second, then once a second when any of them changed. SIGINT or SIGTERM
//! shut down gracefully (in-flight frames are answered) and exit with status 0.
//!
//! `--listen systemd` serves the first socket systemd passed (socket activation:
//! `LISTEN_FDS`; try `systemd-socket-activate -l 127.0.0.1:7000 echo --listen
//! systemd`). `--reuse-port` (TCP and UDP) sets `SO_REUSEPORT`, so several echo
//! processes serve one port, the kernel spreading connections (or, over UDP, peers by
//! their address) among them; each one's `--stats` shows its share.
//! `--metrics ADDR` serves the manager's counters in the Prometheus text format on
//! `http://ADDR/metrics` (recorded through the `metrics` facade at each scrape; a
//! second line, `metrics on http://ADDR/metrics`, gives the bound address).
//! `--proxy-protocol` (TCP) expects a PROXY protocol header (v1 or v2) at the start of
//! each connection, as HAProxy's `send-proxy`/`send-proxy-v2` or an AWS NLB send it:
//! the connection's addresses are then the client's, and a connection without a
//! header is closed before any echo. `--proxy-from CIDR` (repeatable; implies
//! `--proxy-protocol`) believes headers from those networks only (a connection from
//! elsewhere is refused at once). `--max-per-ip N` lets one source (an IP address,
//! IPv6 by /64; behind the PROXY protocol, the client's; over Unix sockets, a uid) hold
//! at most N connections or, over UDP, tracked peers; beyond it a newcomer is refused
//! (a datagram from a new UDP peer dropped), counted in `refused_source`. A full table
//! is shared fairly among sources whatever the flags (README "Under attack").
//! `--announce` sends `you are ADDR` (the
//! connection's remote address) as the first frame of each connection.
//!
//! `--transport quic` serves QUIC (the `tendril-quic` crate): every bidirectional stream
//! of every connection is echoed on its own with the framer until the client finishes
//! it, then finished in turn; ALPN `echo`; the certificate is `--tls-cert`/`--tls-key`
//! or a self-signed one for `localhost` made at start (`--tls-self-signed`, the default).
//!
//! Try it with `printf 'hello\r\n' | nc 127.0.0.1 7000`, or with the `line_client`
//! example.

#[path = "shared/cli.rs"]
mod cli;
#[cfg(feature = "metrics")]
#[path = "shared/prometheus.rs"]
mod prometheus;
#[path = "shared/signal.rs"]
mod signal;
#[path = "tls/config.rs"]
mod tls_config;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cli::{switch, value, Cli, Flag};
use tendril_net::app::{acceptor_fn, Acceptor};
use tendril_net::framer::{named, NAMES};
#[cfg(all(unix, feature = "systemd"))]
use tendril_net::manager::systemd::{passed_sockets, Passed};
use tendril_net::wrap::NoWrapper;
#[cfg(feature = "proxy-protocol")]
use tendril_net::wrap::{IpNet, ProxyProtocolLayer, WrapperChain};

/// Without the `systemd` feature there is nothing to take: `--listen systemd` says so.
#[cfg(not(all(unix, feature = "systemd")))]
mod no_systemd {
    // Never built: `--listen systemd` is refused first.
    #[allow(dead_code)]
    pub enum Passed {
        Tcp(std::net::TcpListener),
        Udp(std::net::UdpSocket),
        Unix(std::os::unix::net::UnixListener),
    }

    pub struct PassedSocket {
        pub socket: Passed,
    }

    pub fn passed_sockets() -> Result<Vec<PassedSocket>, String> {
        Err(super::needs("systemd", "--listen systemd"))
    }
}

/// The message for a flag whose feature this build lacks.
#[cfg_attr(
    all(
        unix,
        feature = "systemd",
        feature = "proxy-protocol",
        feature = "metrics"
    ),
    allow(dead_code)
)]
fn needs(feature: &str, flag: &str) -> String {
    format!("{flag} needs the `{feature}` feature: cargo run --example echo --features {feature} -- ...")
}
#[cfg(not(all(unix, feature = "systemd")))]
use no_systemd::{passed_sockets, Passed};
use tendril_net::manager::Builder;
use tendril_net::{BoxError, Manager, TcpManager, Tendril, UdpManager, UnixManager};
use tendril_quic::{Quic, QuicManager};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::util::Either;
use tower::{service_fn, Service, ServiceBuilder};

use signal::shutdown_signal;
use tls_config::TlsSource;

struct Args {
    transport: String,
    /// The address (or, for Unix sockets, the path) to listen on.
    listen: String,
    framer: Option<String>,
    stats: bool,
    max_peers: usize,
    idle_timeout: Duration,
    timeout: Option<Duration>,
    tower: bool,
    global_limit: Option<usize>,
    socket_mode: Option<u32>,
    proxy_protocol: bool,
    /// The networks trusted to send a PROXY header (empty: any).
    proxy_from: Vec<String>,
    max_per_ip: Option<usize>,
    announce: bool,
    reuse_port: bool,
    metrics: Option<SocketAddr>,
    max_connections: Option<usize>,
    memory_budget: Option<usize>,
    /// QUIC: where the certificate comes from (self-signed for localhost by default).
    tls: TlsSource,
}

fn seconds(cli: &Cli, flag: &str) -> Option<Duration> {
    let secs: f64 = cli.parsed(flag)?;
    Some(
        Duration::try_from_secs_f64(secs)
            .unwrap_or_else(|err| cli.fail(format!("{flag} {secs}: {err:#}"))),
    )
}

/// Echo's flags (the TLS ones are added for QUIC).
const FLAGS: [Flag; 18] = [
    value("--transport", "NAME", "tcp (default), udp, unix or quic"),
    value(
        "--listen",
        "ADDR",
        "where to listen: an address (default 127.0.0.1:7000), a socket path for unix \
         (default /tmp/tendril-echo.sock), or `systemd` for the socket systemd passed",
    ),
    value(
        "--framer",
        "NAME",
        "the framer both ways (default line over TCP and Unix, identity over UDP)",
    ),
    switch(
        "--stats",
        "print the manager's counters on stderr once a second when they change",
    ),
    value(
        "--max-peers",
        "N",
        "UDP: the most peers tracked at once (default 65,536)",
    ),
    value(
        "--max-connections",
        "N",
        "TCP and Unix: the most connections at once (default 10,000)",
    ),
    value(
        "--memory-budget",
        "BYTES",
        "the bytes all connections may buffer (default 256 MiB)",
    ),
    value(
        "--idle-timeout",
        "SECS",
        "close a connection or peer quiet this long (UDP default 60)",
    ),
    value(
        "--timeout",
        "SECS",
        "the longest one echo may take (the built-in call timeout)",
    ),
    switch(
        "--tower",
        "serve through a tower ServiceBuilder (ConcurrencyLimit 64, Timeout)",
    ),
    value(
        "--global-limit",
        "N",
        "one GlobalConcurrencyLimit of N calls shared by all connections",
    ),
    value(
        "--socket-mode",
        "OCTAL",
        "unix: the socket file's permissions, such as 600",
    ),
    switch(
        "--proxy-protocol",
        "TCP: expect a PROXY protocol header (v1 or v2) on each connection",
    ),
    value(
        "--proxy-from",
        "CIDR",
        "TCP: believe PROXY headers from this network only (repeatable; implies --proxy-protocol)",
    ),
    value(
        "--max-per-ip",
        "N",
        "the most connections (UDP: peers) one source address may hold",
    ),
    switch(
        "--announce",
        "send `you are ADDR` as each connection's first frame",
    ),
    switch(
        "--reuse-port",
        "TCP, UDP and QUIC: set SO_REUSEPORT, so several processes share the port",
    ),
    value(
        "--metrics",
        "ADDR",
        "serve the counters in the Prometheus format on http://ADDR/metrics",
    ),
];

fn parse_args() -> Result<Args, String> {
    let cli = Cli::parse(
        "echo",
        "[--transport tcp|udp|unix|quic] [--listen ADDR] [--framer NAME] [FLAGS...]",
        "A frame echo server: every frame is sent back on its connection with the same \
         framer. A connection closed by a limit is logged at info with its reason.",
        &{
            let mut flags = Vec::from(FLAGS);
            flags.extend(tls_config::FLAGS);
            flags
        },
    );
    let mut args = Args {
        transport: cli.get("--transport").unwrap_or("tcp").to_owned(),
        listen: cli.get("--listen").unwrap_or_default().to_owned(),
        framer: cli.get("--framer").map(str::to_owned),
        stats: cli.has("--stats"),
        max_peers: cli.parsed_or("--max-peers", 65_536),
        idle_timeout: seconds(&cli, "--idle-timeout").unwrap_or(Duration::from_secs(60)),
        timeout: seconds(&cli, "--timeout"),
        tower: cli.has("--tower"),
        global_limit: cli.parsed("--global-limit"),
        socket_mode: cli.get("--socket-mode").map(|text| {
            u32::from_str_radix(text, 8).unwrap_or_else(|err| {
                cli.fail(format!("--socket-mode {text}: {err} (octal, such as 600)"))
            })
        }),
        proxy_protocol: cli.has("--proxy-protocol") || cli.has("--proxy-from"),
        proxy_from: cli.all("--proxy-from").map(str::to_owned).collect(),
        max_per_ip: cli.parsed("--max-per-ip"),
        announce: cli.has("--announce"),
        reuse_port: cli.has("--reuse-port"),
        metrics: cli.parsed("--metrics"),
        max_connections: cli.parsed("--max-connections"),
        memory_budget: cli.parsed("--memory-budget"),
        tls: match tls_config::source(&cli) {
            Ok(TlsSource::None) => TlsSource::SelfSigned,
            Ok(source) => source,
            Err(message) => cli.fail(message),
        },
    };
    if !matches!(args.transport.as_str(), "tcp" | "udp" | "unix" | "quic") {
        return Err(format!(
            "unknown transport `{}` (tcp, udp, unix or quic)",
            args.transport
        ));
    }
    if args.listen.is_empty() {
        args.listen = match args.transport.as_str() {
            "unix" => "/tmp/tendril-echo.sock".into(),
            _ => "127.0.0.1:7000".into(),
        };
    }
    // Flags whose feature this build lacks are usage errors, before anything binds.
    #[cfg(not(feature = "proxy-protocol"))]
    if args.proxy_protocol {
        return Err(needs("proxy-protocol", "--proxy-protocol"));
    }
    #[cfg(not(all(unix, feature = "systemd")))]
    if args.listen == "systemd" {
        return Err(needs("systemd", "--listen systemd"));
    }
    #[cfg(not(feature = "metrics"))]
    if args.metrics.is_some() {
        return Err(needs("metrics", "--metrics"));
    }
    if args.proxy_protocol && args.transport != "tcp" {
        return Err("--proxy-protocol is for --transport tcp".into());
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

/// The echo application: a bare `service_fn`, answering at once.
fn echo() -> impl Service<Bytes, Response = Bytes, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(|frame: Bytes| std::future::ready(Ok::<_, BoxError>(frame)))
}

/// An acceptor that sets framer `framer` on every connection and runs `make()`'s
/// service on it; with `announce`, the first frame sent is `you are ADDR` (the
/// connection's remote address: the client's own, behind a PROXY-protocol balancer).
fn acceptor<S, M>(
    framer: String,
    announce: bool,
    make: M,
) -> impl Acceptor<Bytes, Bytes> + Send + 'static
where
    M: Fn() -> S + Send + 'static,
    S: Service<Bytes, Response = Bytes, Future: Send + 'static> + Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    acceptor_fn(move |tendril: Tendril| {
        let (recv, send) = named(&framer).expect("checked at start");
        tendril.set_framers(recv, send)?;
        if announce {
            let remote = tendril.remote().to_string();
            tendril.try_send_frame(Bytes::from(format!("you are {remote}")))?;
        }
        Ok(make())
    })
}

/// The socket systemd passed, for `--listen systemd` (socket activation): taken before
/// the runtime starts its threads (taking it changes the environment).
fn passed_socket(args: &Args) -> Result<Option<Passed>, BoxError> {
    if args.listen != "systemd" {
        return Ok(None);
    }
    let first = passed_sockets()?.into_iter().next();
    let passed = first.ok_or("--listen systemd: no socket was passed (LISTEN_FDS)")?;
    Ok(Some(passed.socket))
}

/// Starts the manager of `args.transport` (on `passed`, if systemd passed a socket) with
/// `acceptor`.
fn start<A>(
    args: &Args,
    passed: Option<Passed>,
    call_timeout: Option<Duration>,
    acceptor: A,
) -> Result<(Arc<dyn Manager>, String), BoxError>
where
    A: Acceptor<Bytes, Bytes> + Send + 'static,
{
    let inet = || -> Result<SocketAddr, BoxError> {
        args.listen
            .parse()
            .map_err(|err| format!("--listen {}: {err:#}", args.listen).into())
    };
    let wrong = |kind: &str| -> BoxError {
        format!(
            "--listen systemd: the passed socket is {kind}, not --transport {}",
            args.transport
        )
        .into()
    };
    match args.transport.as_str() {
        "quic" => {
            let options = match passed {
                Some(Passed::Udp(socket)) => Quic::adopt(socket)?,
                Some(_) => return Err(wrong("not UDP")),
                None => Quic::new(inet()?).reuse_port(args.reuse_port),
            };
            let options = options.server_tls(quic_tls(args)?)?;
            let manager = bounded(QuicManager::builder(options), args, call_timeout).build();
            let addr = manager.start(acceptor)?;
            Ok((Arc::new(manager), addr.to_string()))
        }
        "udp" => {
            let builder = match passed {
                Some(Passed::Udp(socket)) => UdpManager::adopt(socket)?,
                Some(_) => return Err(wrong("not UDP")),
                None => UdpManager::builder(inet()?).reuse_port(args.reuse_port),
            };
            let manager = builder
                .max_connections(args.max_peers)
                .max_per_source(args.max_per_ip)
                .idle_timeout(Some(args.idle_timeout))
                .call_timeout(call_timeout)
                .build();
            let addr = manager.start(acceptor, NoWrapper)?;
            Ok((Arc::new(manager), addr.to_string()))
        }
        "unix" => {
            let mut builder = match passed {
                Some(Passed::Unix(listener)) => UnixManager::adopt(listener)?,
                Some(_) => return Err(wrong("not a Unix stream socket")),
                None => UnixManager::builder(args.listen.clone().into()),
            };
            builder = bounded(builder, args, call_timeout);
            if let Some(mode) = args.socket_mode {
                builder = builder.socket_mode(mode);
            }
            let manager = builder.build();
            let path = manager.start(acceptor, NoWrapper)?;
            Ok((Arc::new(manager), path.display().to_string()))
        }
        _ => {
            let builder = match passed {
                Some(Passed::Tcp(listener)) => TcpManager::adopt(listener)?,
                Some(_) => return Err(wrong("not TCP")),
                None => TcpManager::builder(inet()?).reuse_port(args.reuse_port),
            };
            let manager = bounded(builder, args, call_timeout).build();
            let addr = if args.proxy_protocol {
                // Behind a load balancer: the PROXY header (v1 or v2) first.
                #[cfg(feature = "proxy-protocol")]
                {
                    let mut layer = ProxyProtocolLayer::new();
                    if !args.proxy_from.is_empty() {
                        let networks = args.proxy_from.iter().map(|text| {
                            text.parse::<IpNet>()
                                .map_err(|err| format!("--proxy-from {text}: {err}"))
                        });
                        layer = layer.trusted(networks.collect::<Result<Vec<_>, _>>()?);
                    }
                    let wrapper = WrapperChain::new().layer(layer);
                    manager.start(acceptor, wrapper)?
                }
                #[cfg(not(feature = "proxy-protocol"))]
                return Err(needs("proxy-protocol", "--proxy-protocol").into());
            } else {
                manager.start(acceptor, NoWrapper)?
            };
            Ok((Arc::new(manager), addr.to_string()))
        }
    }
}

/// The stream transports' bounds from the flags: the call timeout, the per-source
/// limit, and `--max-connections`/`--memory-budget` where given.
fn bounded<O>(builder: Builder<O>, args: &Args, call_timeout: Option<Duration>) -> Builder<O> {
    let mut builder = builder
        .call_timeout(call_timeout)
        .max_per_source(args.max_per_ip);
    if let Some(max) = args.max_connections {
        builder = builder.max_connections(max);
    }
    if let Some(bytes) = args.memory_budget {
        builder = builder.memory_budget(bytes);
    }
    builder
}

/// QUIC's TLS: the TLS flags' certificate (self-signed for `localhost` by default);
/// ALPN `echo`.
fn quic_tls(args: &Args) -> Result<tendril_quic::rustls::ServerConfig, BoxError> {
    let mut tls = tls_config::server_config(&args.tls, "localhost")?.ok_or("no TLS")?;
    tls.alpn_protocols = vec![b"echo".to_vec()];
    Ok(tls)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("echo: {message}\n(see `echo --help`)");
            return ExitCode::from(2);
        }
    };
    let passed = match passed_socket(&args) {
        Ok(passed) => passed,
        Err(err) => {
            eprintln!("echo: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve(args, passed)),
        Err(err) => {
            eprintln!("echo: cannot start the runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args, passed: Option<Passed>) -> ExitCode {
    let shutdown = shutdown_signal();
    let udp = args.transport == "udp";
    let framer = args
        .framer
        .clone()
        .unwrap_or_else(|| if udp { "identity" } else { "line" }.to_owned());
    // With `--tower` the timeout is tower's; otherwise the connection's own.
    let call_timeout = args.timeout.filter(|_| !args.tower);
    let tower_timeout = args.timeout.unwrap_or(Duration::from_secs(30));
    // Any tower middleware composes around the application; each choice here is its
    // own service type, so the default one pays for nothing it does not use.
    let tower_stack = move || {
        ServiceBuilder::new()
            .concurrency_limit(64)
            .timeout(tower_timeout)
            .service(echo())
    };
    let started = match (args.tower, args.global_limit) {
        (false, None) => start(
            &args,
            passed,
            call_timeout,
            acceptor(framer, args.announce, echo),
        ),
        (true, None) => start(
            &args,
            passed,
            call_timeout,
            acceptor(framer, args.announce, tower_stack),
        ),
        (tower, Some(limit)) => {
            // One limit for every connection: a permit is held only with a frame in hand.
            let global = GlobalConcurrencyLimitLayer::new(limit);
            let stack = move || {
                let service = if tower {
                    Either::Right(tower_stack())
                } else {
                    Either::Left(echo())
                };
                ServiceBuilder::new().layer(global.clone()).service(service)
            };
            start(
                &args,
                passed,
                call_timeout,
                acceptor(framer, args.announce, stack),
            )
        }
    };
    let (manager, addr) = match started {
        Ok(started) => started,
        Err(err) => {
            eprintln!("echo: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {} {addr}", args.transport);
    let metrics: Option<TcpManager> = match args.metrics {
        #[cfg(not(feature = "metrics"))]
        Some(_) => {
            eprintln!("echo: {}", needs("metrics", "--metrics"));
            return ExitCode::from(2);
        }
        #[cfg(feature = "metrics")]
        Some(metrics_addr) => match prometheus::serve(metrics_addr, manager.clone()) {
            Ok((metrics, bound)) => {
                println!("metrics on http://{bound}/metrics");
                Some(metrics)
            }
            Err(err) => {
                eprintln!("echo: --metrics: {err:#}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let _ = std::io::stdout().flush();

    if args.stats {
        let manager = manager.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let mut last = None;
            loop {
                tick.tick().await;
                // A line after the first second, then only when a counter moved; a
                // UDP or QUIC manager's own counters after the engine's.
                let udp = manager.as_any().downcast_ref::<UdpManager>();
                let quic = manager.as_any().downcast_ref::<QuicManager>();
                let stats = (
                    manager.stats(),
                    udp.map(UdpManager::udp_stats),
                    quic.map(QuicManager::quic_stats),
                );
                if last != Some(stats) {
                    match stats {
                        (stats, Some(udp), _) => eprintln!("{stats} {udp}"),
                        (stats, _, Some(quic)) => eprintln!("{stats} {quic}"),
                        (stats, None, None) => eprintln!("{stats}"),
                    }
                    last = Some(stats);
                }
            }
        });
    }

    shutdown.await;
    if let Some(metrics) = metrics {
        metrics.shutdown();
    }
    let finished = manager.graceful_shutdown(Duration::from_secs(5)).await;
    if !finished {
        eprintln!("echo: some connections did not finish within 5 s and were closed");
    }
    ExitCode::SUCCESS
}
