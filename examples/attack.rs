//! attack: hostile load against the example servers, over loopback, with a
//! well-behaved client measured throughout. The figures of README "Under attack" come
//! from it.
//!
//! ```text
//! cargo run --release --example attack -- SCENARIO --target ADDR [--pid PID] [options]
//! ```
//!
//! Scenarios (each bounded: a number of connections, a duration):
//!
//! - `partial --conns 300 --size 8388607`: each connection announces a length-u32
//!   frame of `--size` bytes and sends all of it but the last byte, then holds it
//!   (against `echo --framer length-u32`).
//! - `idle --conns 10000 --hold 3`: opens that many connections that say nothing (plus
//!   one that sends a line every 200 ms), holds them `--hold` seconds, then a new
//!   client every second must be answered (against `echo`).
//! - `tls --conns 1000 --rate 25 --ca PEM`: that many TCP connections that never send
//!   a ClientHello, topped up by `--rate` new ones a second; a real TLS client every
//!   second must complete its handshake and an echo (against `tls_echo`; `attack
//!   make-cert DIR` writes a certificate and key for `tls_echo --tls-cert --tls-key`).
//! - `starttls --conns 1000 --rate 25 --ca PEM`: the same against `smtp_server` with
//!   a certificate: each silent connection says EHLO and STARTTLS, reads the 220, then
//!   never starts its handshake; a real client every second upgrades and says EHLO
//!   again over TLS.
//! - `slowloris --conns 1000`: each connection sends one byte a second of a line that
//!   never ends; reports when each was closed.
//! - `nonreader`: one connection pipelines lines and never reads; reports when the
//!   server closed it.
//! - `line-limit --conns 19000`: each connection sends a line over the 64 KiB limit
//!   and stays open; with `--pid`, the server's descriptors are counted throughout
//!   (the probe is shown, not judged: see `line_limit`).
//!
//! - `churn --conns 10050 --duration 15`: that many connections from `--from`
//!   (default 127.0.0.2) that say nothing, each reopened as soon as the server
//!   closes it; a new client from `--probe-from` (default 127.0.0.3) every 250 ms
//!   must be answered within 1 s, nine in ten at least. With `--proxy`, the probes
//!   send a PROXY v1 header first (against `echo --proxy-protocol`, whose silent
//!   connections then wait for their header).
//!
//! - `udp-flood --conns 3000 --rounds 10`: against `echo --transport udp --max-peers
//!   64`: one established peer, then that many fresh source ports each sending one
//!   datagram as fast as they can, the established peer asking once every 500 of
//!   them: each of its questions must be answered within 1 s, in every round; the
//!   flood sockets answered (tracked) are counted (at most the table's size).
//!
//! Common options: `--duration SECS` (how long the probe runs, default 10), `--pid`
//! (the server's process: its peak resident memory and its most open descriptors are
//! reported, from `/proc`). The probe is a client on its own connection sending a
//! frame every 100 ms, plus a new connection every second; the slowest answer of each
//! is reported. Exit status 1 if a probe failed or was slower than 1 s.

#[path = "shared/cli.rs"]
mod cli;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli::{switch, value, Cli};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The most a probe may take.
const SLOW: Duration = Duration::from_secs(1);

struct Args {
    scenario: String,
    target: SocketAddr,
    pid: Option<u32>,
    conns: usize,
    size: usize,
    hold: u64,
    rate: usize,
    duration: u64,
    ca: Option<String>,
    from: String,
    probe_from: String,
    proxy: bool,
    rounds: u64,
}

fn parse_args() -> Args {
    let cli = Cli::parse(
        "attack",
        "partial|idle|tls|starttls|slowloris|nonreader|line-limit|churn|udp-flood --target ADDR [--pid PID] \
         [--conns N] [--size BYTES] [--hold SECS] [--rate N] [--duration SECS] [--ca PEM] \
         [--from IP] [--probe-from IP] [--proxy] [--rounds N]\n       \
         attack make-cert DIR",
        "Attacks a server the way a hostile client would, while a probe checks that real \
         clients are still served; exits 1 if they were not.",
        &[
            value(
                "--target",
                "ADDR",
                "the server attacked (default 127.0.0.1:7000)",
            ),
            value(
                "--pid",
                "PID",
                "the server's process, whose memory and descriptors are reported",
            ),
            value("--conns", "N", "attacking connections (per scenario)"),
            value(
                "--size",
                "BYTES",
                "partial: the length announced (default 8 MiB - 1)",
            ),
            value(
                "--hold",
                "SECS",
                "idle: how long the connections are held before probing (default 3)",
            ),
            value(
                "--rate",
                "N",
                "tls, starttls: new silent connections a second (default 25)",
            ),
            value("--duration", "SECS", "how long the probe runs (default 10)"),
            value(
                "--ca",
                "PEM",
                "tls, starttls: the certificate the probe trusts",
            ),
            value(
                "--from",
                "IP",
                "churn: the attacker's source address (default 127.0.0.2)",
            ),
            value(
                "--probe-from",
                "IP",
                "churn: the probes' source address (default 127.0.0.3)",
            ),
            switch("--proxy", "churn: the probes send a PROXY header first"),
            value("--rounds", "N", "udp-flood: how many floods (default 10)"),
        ],
    );
    let scenario = match &cli.positional[..] {
        [scenario] => scenario.clone(),
        [make, dir] if make == "make-cert" => {
            if let Err(err) = make_cert(dir) {
                cli.fail(format!("make-cert {dir}: {err:#}"));
            }
            std::process::exit(0);
        }
        _ => cli.fail("give one scenario"),
    };
    Args {
        scenario,
        target: cli.parsed_or("--target", ([127, 0, 0, 1], 7000).into()),
        pid: cli.parsed("--pid"),
        conns: cli.parsed_or("--conns", 0),
        size: cli.parsed_or("--size", 8 * 1024 * 1024 - 1),
        hold: cli.parsed_or("--hold", 3),
        rate: cli.parsed_or("--rate", 25),
        duration: cli.parsed_or("--duration", 10),
        ca: cli.get("--ca").map(str::to_owned),
        from: cli.get("--from").unwrap_or("127.0.0.2").to_owned(),
        probe_from: cli.get("--probe-from").unwrap_or("127.0.0.3").to_owned(),
        proxy: cli.has("--proxy"),
        rounds: cli.parsed_or("--rounds", 10),
    }
}

fn make_cert(dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(format!("{dir}/cert.pem"), key.cert.pem())?;
    std::fs::write(format!("{dir}/key.pem"), key.signing_key.serialize_pem())?;
    println!("wrote {dir}/cert.pem and {dir}/key.pem");
    Ok(())
}

/// The server's peak resident memory (KiB) and open descriptors, from `/proc`.
fn proc_status(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((peak, fds))
}

/// Samples the server's descriptors every 50 ms; the most seen.
fn watch_fds(pid: Option<u32>) -> Arc<AtomicUsize> {
    let most = Arc::new(AtomicUsize::new(0));
    if let Some(pid) = pid {
        let seen = most.clone();
        tokio::spawn(async move {
            while let Some((_, fds)) = proc_status(pid) {
                seen.fetch_max(fds, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    most
}

/// How a scenario's probes went.
#[derive(Default)]
struct Probes {
    /// Slowest answer on the long-lived connection, in microseconds.
    steady: AtomicU64,
    /// Slowest new connection's connect + first answer.
    fresh: AtomicU64,
    failed: AtomicU64,
    answered: AtomicU64,
}

impl Probes {
    fn record(&self, slowest: &AtomicU64, took: Result<Duration, String>) {
        match took {
            Ok(took) => {
                slowest.fetch_max(took.as_micros() as u64, Ordering::Relaxed);
                self.answered.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                eprintln!("probe failed: {err}");
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn report(&self) -> bool {
        let ms = |v: &AtomicU64| v.load(Ordering::Relaxed) as f64 / 1000.0;
        let failed = self.failed.load(Ordering::Relaxed);
        println!(
            "probes: {} answered, {failed} failed; slowest on its connection {:.1} ms, slowest new connection {:.1} ms",
            self.answered.load(Ordering::Relaxed),
            ms(&self.steady),
            ms(&self.fresh),
        );
        let slow = SLOW.as_micros() as u64;
        failed == 0
            && self.steady.load(Ordering::Relaxed) <= slow
            && self.fresh.load(Ordering::Relaxed) <= slow
    }
}

/// A frame the target echoes: a line, or a length-u32 frame.
fn probe_frame(length_prefixed: bool, n: u64) -> Vec<u8> {
    let text = format!("probe {n}");
    if length_prefixed {
        let mut frame = (text.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(text.as_bytes());
        frame
    } else {
        format!("{text}\r\n").into_bytes()
    }
}

/// Sends `frame` and reads until its echo is back (bounded by [`SLOW`] times five).
async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    frame: &[u8],
) -> Result<(), String> {
    let exchange = async {
        stream.write_all(frame).await?;
        let mut echoed = vec![0; frame.len()];
        stream.read_exact(&mut echoed).await?;
        if echoed != frame {
            return Err(std::io::Error::other("a different echo"));
        }
        Ok(())
    };
    match tokio::time::timeout(SLOW * 5, exchange).await {
        Ok(result) => result.map_err(|err| err.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

/// Runs the probes for `duration` on a thread and runtime of their own (so that the
/// attack's tasks do not delay them): one connection every 100 ms, a new one every
/// second.
async fn probe(target: SocketAddr, length_prefixed: bool, duration: Duration) -> Arc<Probes> {
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(probe_here(target, length_prefixed, duration))
    });
    tokio::task::spawn_blocking(move || thread.join().expect("the probe thread"))
        .await
        .expect("the probe thread")
}

async fn probe_here(target: SocketAddr, length_prefixed: bool, duration: Duration) -> Arc<Probes> {
    let probes = Arc::new(Probes::default());
    let until = Instant::now() + duration;
    let steady = {
        let probes = probes.clone();
        tokio::spawn(async move {
            let mut stream = match TcpStream::connect(target).await {
                Ok(stream) => stream,
                Err(err) => return probes.record(&probes.steady, Err(err.to_string())),
            };
            let mut n = 0;
            while Instant::now() < until {
                let started = Instant::now();
                let result = round_trip(&mut stream, &probe_frame(length_prefixed, n)).await;
                let failed = result.is_err();
                probes.record(&probes.steady, result.map(|()| started.elapsed()));
                if failed {
                    return;
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut n = 0;
    while Instant::now() < until {
        let started = Instant::now();
        let result = async {
            let connect = tokio::time::timeout(SLOW * 5, TcpStream::connect(target));
            let mut stream = connect
                .await
                .map_err(|_| "connect timed out".to_owned())?
                .map_err(|err| err.to_string())?;
            round_trip(&mut stream, &probe_frame(length_prefixed, n)).await
        }
        .await;
        probes.record(&probes.fresh, result.map(|()| started.elapsed()));
        n += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _ = steady.await;
    probes
}

/// What the tasks of `set` returned, as they finish (a task that panicked is left out).
async fn joined<T: 'static>(mut set: JoinSet<T>) -> Vec<T> {
    let mut done = Vec::with_capacity(set.len());
    while let Some(result) = set.join_next().await {
        if let Ok(value) = result {
            done.push(value);
        }
    }
    done
}

/// Connects `count` streams (from source address `from`, if given), at most 256
/// connects at once; those refused are skipped.
async fn connect_many(target: SocketAddr, count: usize, from: Option<&str>) -> Vec<TcpStream> {
    let gate = Arc::new(Semaphore::new(256));
    let mut set = JoinSet::new();
    for _ in 0..count {
        let gate = gate.clone();
        let from = from.map(str::to_owned);
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.ok()?;
            let connect = async {
                match &from {
                    Some(from) => connect_from(from, target).await,
                    None => TcpStream::connect(target).await,
                }
            };
            tokio::time::timeout(SLOW * 10, connect).await.ok()?.ok()
        });
    }
    joined(set).await.into_iter().flatten().collect()
}

/// True if the server closed `stream` (end of stream or an error) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(wait, read).await.is_ok()
}

/// Counts how many of `streams` the server closed within `wait` (each waited on in
/// parallel); the others are handed back, still open.
async fn count_closed(streams: Vec<TcpStream>, wait: Duration) -> (usize, Vec<TcpStream>) {
    let mut set = JoinSet::new();
    for mut stream in streams {
        set.spawn(async move {
            closed_within(&mut stream, wait)
                .await
                .then_some(())
                .ok_or(stream)
        });
    }
    let (closed, open): (Vec<_>, Vec<_>) = joined(set).await.into_iter().partition(Result::is_ok);
    (
        closed.len(),
        open.into_iter().filter_map(Result::err).collect(),
    )
}

async fn partial(args: &Args) -> bool {
    let size = args.size;
    let conns = args.conns.max(1);
    let started = Instant::now();
    let probing = tokio::spawn(probe(args.target, true, Duration::from_secs(args.duration)));
    let mut attackers = connect_many(args.target, conns, None).await;
    let mut set = JoinSet::new();
    for mut stream in attackers.drain(..) {
        set.spawn(async move {
            let mut header = (size as u32).to_be_bytes().to_vec();
            header.resize(4 + 64 * 1024, b'x');
            let mut sent = 0;
            let body = size.saturating_sub(1);
            let mut first = true;
            while sent < body {
                let piece = (body - sent).min(64 * 1024);
                let bytes = if first {
                    &header[..4 + piece]
                } else {
                    &header[4..4 + piece]
                };
                first = false;
                let write = tokio::time::timeout(Duration::from_secs(30), stream.write_all(bytes));
                if !matches!(write.await, Ok(Ok(()))) {
                    break;
                }
                sent += piece;
            }
            stream
        });
    }
    let held = joined(set).await;
    println!(
        "{} connections sent their partial frames in {:.1} s",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    let (closed, _open) = count_closed(held, Duration::from_millis(500)).await;
    println!("closed by the server: {closed} of {conns}");
    let probes = probing.await.expect("the probe task");
    if let Some((peak, _)) = args.pid.and_then(proc_status) {
        println!("server peak RSS: {} MiB", peak / 1024);
    }
    probes.report()
}

async fn idle(args: &Args) -> bool {
    let mut active = match TcpStream::connect(args.target).await {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("connect: {err}");
            return false;
        }
    };
    let until = Instant::now() + Duration::from_secs(args.hold + args.duration + 60);
    let active_task = tokio::spawn(async move {
        let mut n = 0u64;
        while Instant::now() < until {
            if round_trip(&mut active, &probe_frame(false, n))
                .await
                .is_err()
            {
                return Err(n);
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(n)
    });
    let started = Instant::now();
    let idle = connect_many(args.target, args.conns, None).await;
    println!(
        "{} idle connections open after {:.1} s",
        idle.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let probes = probe(args.target, false, Duration::from_secs(args.duration)).await;
    let (shed, _open) = count_closed(idle, Duration::from_millis(500)).await;
    println!("idle connections closed by the server (shed): {shed}");
    active_task.abort();
    let active_ok = match active_task.await {
        Err(err) if err.is_cancelled() => true,
        Ok(Ok(_)) => true,
        _ => false,
    };
    println!(
        "the active connection was {}",
        if active_ok { "kept" } else { "closed" }
    );
    probes.report() && active_ok
}

/// The TLS client wrapper trusting `--ca`, for `localhost`.
fn tls_client(args: &Args) -> Option<tendril_net::wrap::TlsClient> {
    use tendril_net::wrap::{tls_client_config, NoWrapper, TlsClientLayer};
    use tower::Layer;
    let Some(ca) = &args.ca else {
        eprintln!("{} needs --ca PEM (see make-cert)", args.scenario);
        return None;
    };
    let made = std::fs::read(ca)
        .map_err(tendril_net::BoxError::from)
        .and_then(|roots| Ok(tls_client_config(&roots)?))
        .and_then(|config| Ok(TlsClientLayer::new(config, "localhost")?.layer(NoWrapper)));
    match made {
        Ok(client) => Some(client),
        Err(err) => {
            eprintln!("--ca {ca}: {err:#}");
            None
        }
    }
}

/// The client side of a TLS handshake on `tcp` (bounded).
async fn handshake(
    client: &tendril_net::wrap::TlsClient,
    tcp: TcpStream,
) -> Result<impl AsyncRead + AsyncWrite + Unpin, String> {
    use tower::ServiceExt;
    tokio::time::timeout(SLOW * 5, client.clone().oneshot(tcp))
        .await
        .map_err(|_| "no handshake within 5 s".to_owned())?
        .map_err(|err| err.to_string())
}

/// A flood of `--conns` silent connections (`open(n)` opens `n` of them, `noun` names
/// them), topped up by `--rate` a second for `--duration` seconds while one real
/// client a second (`real(n)`) is timed.
async fn flood<O, OF, R, RF>(args: &Args, noun: &str, open: O, real: R) -> bool
where
    O: Fn(usize) -> OF,
    OF: std::future::Future<Output = Vec<TcpStream>>,
    R: Fn(u64) -> RF,
    RF: std::future::Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let mut silent = open(args.conns).await;
    println!(
        "{} {noun} open after {:.1} s",
        silent.len(),
        started.elapsed().as_secs_f64()
    );
    let probes = Probes::default();
    for n in 0..args.duration {
        let timed = async {
            let started = Instant::now();
            real(n).await.map(|()| started.elapsed())
        };
        let (more, took) = tokio::join!(open(args.rate), timed);
        silent.extend(more);
        probes.record(&probes.fresh, took);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (shed, _open) = count_closed(silent, Duration::from_millis(500)).await;
    println!("{noun} closed by the server: {shed}");
    probes.report()
}

async fn tls(args: &Args) -> bool {
    let Some(client) = tls_client(args) else {
        return false;
    };
    let open = |count| connect_many(args.target, count, None);
    let client = &client;
    let real = |n| async move {
        let tcp = TcpStream::connect(args.target)
            .await
            .map_err(|err| err.to_string())?;
        let mut stream = handshake(client, tcp).await?;
        round_trip(&mut stream, &probe_frame(false, n)).await
    };
    flood(args, "silent connections", open, real).await
}

/// Reads CRLF lines until an SMTP reply's last one (`250 ...`, not `250-...`); its code.
async fn smtp_reply<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<u16> {
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
        if line.ends_with(b"\r\n") {
            if line.len() >= 4 && line[3] == b' ' {
                let code = std::str::from_utf8(&line[..3])
                    .ok()
                    .and_then(|c| c.parse().ok());
                return code.ok_or_else(|| std::io::Error::other("not an SMTP reply"));
            }
            line.clear();
        } else if line.len() > 1024 {
            return Err(std::io::Error::other("an endless reply line"));
        }
    }
}

/// Connects to an SMTP server and asks for STARTTLS: the stream once its 220 came.
async fn smtp_upgrade(target: SocketAddr) -> Result<TcpStream, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(target).await?;
        smtp_reply(&mut stream).await?;
        stream.write_all(b"EHLO attack.test\r\n").await?;
        smtp_reply(&mut stream).await?;
        stream.write_all(b"STARTTLS\r\n").await?;
        match smtp_reply(&mut stream).await? {
            220 => Ok(stream),
            code => Err(std::io::Error::other(format!("STARTTLS answered {code}"))),
        }
    };
    match tokio::time::timeout(SLOW * 5, exchange).await {
        Ok(result) => result.map_err(|err| err.to_string()),
        Err(_) => Err("no STARTTLS within 5 s".into()),
    }
}

/// `count` connections that asked for STARTTLS and say nothing more.
async fn silent_upgrades(target: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    // In batches, not to overrun the listen backlog.
    while streams.len() < count {
        let batch = (count - streams.len()).min(250);
        let mut set = JoinSet::new();
        for _ in 0..batch {
            set.spawn(smtp_upgrade(target));
        }
        let before = streams.len();
        streams.extend(joined(set).await.into_iter().flatten());
        if streams.len() == before {
            break;
        }
    }
    streams
}

async fn starttls(args: &Args) -> bool {
    let Some(client) = tls_client(args) else {
        return false;
    };
    let open = |count| silent_upgrades(args.target, count);
    let client = &client;
    let real = |_| async move {
        let tcp = smtp_upgrade(args.target).await?;
        let mut stream = handshake(client, tcp).await?;
        let ehlo = async {
            stream.write_all(b"EHLO attack.test\r\n").await?;
            smtp_reply(&mut stream).await
        };
        match tokio::time::timeout(SLOW * 5, ehlo).await {
            Ok(Ok(250)) => Ok(()),
            Ok(Ok(code)) => Err(format!("EHLO over TLS answered {code}")),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("no EHLO answer within 5 s".into()),
        }
    };
    flood(args, "silent upgrades", open, real).await
}

async fn slowloris(args: &Args) -> bool {
    let conns = args.conns.max(1);
    let probing = tokio::spawn(probe(
        args.target,
        false,
        Duration::from_secs(args.duration),
    ));
    let started = Instant::now();
    let streams = connect_many(args.target, conns, None).await;
    let last_close = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for mut stream in streams {
        let last_close = last_close.clone();
        set.spawn(async move {
            // One byte a second, for at most two minutes.
            for _ in 0..120 {
                let mut buf = [0u8; 64];
                if stream.write_all(b"x").await.is_err() {
                    break;
                }
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    _ => {}
                }
            }
            last_close.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        });
    }
    let mut closed = 0;
    while set.join_next().await.is_some() {
        closed += 1;
    }
    println!(
        "slowloris connections closed: {closed} of {conns}, the last after {:.1} s",
        last_close.load(Ordering::Relaxed) as f64 / 1000.0
    );
    probing.await.expect("the probe task").report()
}

async fn nonreader(args: &Args) -> bool {
    let probing = tokio::spawn(probe(
        args.target,
        false,
        Duration::from_secs(args.duration),
    ));
    let mut stream = match TcpStream::connect(args.target).await {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("connect: {err}");
            return false;
        }
    };
    let started = Instant::now();
    let line = [b'y'; 1022]
        .iter()
        .copied()
        .chain(*b"\r\n")
        .collect::<Vec<u8>>();
    let mut sent = 0u64;
    // Pipelines lines, never reads, for at most three minutes.
    let closed = tokio::time::timeout(Duration::from_secs(180), async {
        loop {
            if stream.write_all(&line).await.is_err() {
                return;
            }
            sent += line.len() as u64;
        }
    })
    .await
    .is_ok();
    println!(
        "the non-reading peer was {} after {:.1} s ({:.1} MB sent)",
        if closed { "closed" } else { "still open" },
        started.elapsed().as_secs_f64(),
        sent as f64 / 1e6
    );
    probing.await.expect("the probe task").report() && closed
}

async fn line_limit(args: &Args) -> bool {
    let most_fds = watch_fds(args.pid);
    let conns = args.conns.max(1);
    let started = Instant::now();
    let streams = connect_many(args.target, conns, None).await;
    let over = vec![b'z'; 65 * 1024];
    let mut set = JoinSet::new();
    for mut stream in streams {
        let over = over.clone();
        set.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), stream.write_all(&over)).await;
            stream
        });
    }
    let held = joined(set).await;
    println!(
        "{} connections sent an over-long line in {:.1} s and stay open",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    let probes = probe(args.target, false, Duration::from_secs(args.duration)).await;
    if args.pid.is_some() {
        println!(
            "server descriptors: at most {}",
            most_fds.load(Ordering::Relaxed)
        );
    }
    drop(held);
    // Shown, not judged: the bound here is the descriptors. A probe that comes while
    // the table is full of connections still reading their over-long line is refused
    // (they are active, not idle); once they are closed and lingering, newcomers
    // shed them.
    probes.report();
    true
}

/// A connection to `target` from source address `from` (bounded).
async fn connect_from(from: &str, target: SocketAddr) -> std::io::Result<TcpStream> {
    let ip: std::net::IpAddr = from
        .parse()
        .map_err(|err| std::io::Error::other(format!("--from {from}: {err}")))?;
    let socket = match ip {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    match tokio::time::timeout(SLOW * 5, socket.connect(target)).await {
        Ok(connected) => connected,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// One attacker of `churn`: a connection from `from` that says nothing, reopened as
/// soon as the server closes it, until `until`; how many times it connected.
async fn churner(from: String, target: SocketAddr, until: Instant) -> u64 {
    let mut opened = 0;
    while Instant::now() < until {
        let Ok(mut stream) = connect_from(&from, target).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        opened += 1;
        let left = until.saturating_duration_since(Instant::now());
        if !closed_within(&mut stream, left).await {
            break;
        }
    }
    opened
}

async fn churn(args: &Args) -> bool {
    let duration = Duration::from_secs(args.duration);
    let started = Instant::now();
    let held = connect_many(args.target, args.conns, Some(&args.from)).await;
    println!(
        "{} connections from {} open after {:.1} s; each reopened as it is closed",
        held.len(),
        args.from,
        started.elapsed().as_secs_f64()
    );
    let until = Instant::now() + duration + Duration::from_secs(1);
    let mut attackers = JoinSet::new();
    for _ in held.len()..args.conns {
        // Those that could not connect at first keep trying.
        attackers.spawn(churner(args.from.clone(), args.target, until));
    }
    for mut stream in held {
        let (from, target) = (args.from.clone(), args.target);
        attackers.spawn(async move {
            let left = until.saturating_duration_since(Instant::now());
            if !closed_within(&mut stream, left).await {
                return 0;
            }
            churner(from, target, until).await
        });
    }
    let (target, from, proxy) = (args.target, args.probe_from.clone(), args.proxy);
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(churn_probes(target, from, proxy, duration))
    });
    let (served, tried, slowest) = tokio::task::spawn_blocking(move || thread.join())
        .await
        .expect("the probe thread")
        .expect("the probe thread");
    let reconnects: u64 = joined(attackers).await.into_iter().sum();
    println!(
        "probes from {}: {served} of {tried} served within 1 s ({:.0}%), slowest {:.1} ms; attackers reconnected {reconnects} times",
        args.probe_from,
        100.0 * served as f64 / tried.max(1) as f64,
        slowest.as_secs_f64() * 1000.0
    );
    if let Some((peak, fds)) = args.pid.and_then(proc_status) {
        println!(
            "server peak RSS: {} MiB, descriptors now {fds}",
            peak / 1024
        );
    }
    served * 10 >= tried * 9
}

/// A new client from `from` every 250 ms for `duration`: (served within 1 s, tried,
/// slowest served).
async fn churn_probes(
    target: SocketAddr,
    from: String,
    proxy: bool,
    duration: Duration,
) -> (u64, u64, Duration) {
    let until = Instant::now() + duration;
    let (mut served, mut tried, mut slowest) = (0, 0, Duration::ZERO);
    let mut n = 0;
    while Instant::now() < until {
        let started = Instant::now();
        let exchange = async {
            let mut stream = connect_from(&from, target)
                .await
                .map_err(|err| err.to_string())?;
            if proxy {
                let port = stream.local_addr().map_err(|err| err.to_string())?.port();
                let header = format!("PROXY TCP4 {from} 127.0.0.1 {port} 7000\r\n");
                stream
                    .write_all(header.as_bytes())
                    .await
                    .map_err(|err| err.to_string())?;
            }
            round_trip(&mut stream, &probe_frame(false, n)).await
        };
        let result = tokio::time::timeout(SLOW, exchange).await;
        tried += 1;
        match result {
            Ok(Ok(())) => {
                served += 1;
                slowest = slowest.max(started.elapsed());
            }
            Ok(Err(err)) => eprintln!("probe {n} failed: {err}"),
            Err(_) => eprintln!("probe {n}: no answer within 1 s"),
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(250).saturating_sub(started.elapsed())).await;
    }
    (served, tried, slowest)
}

/// One flood of `udp-flood`: (questions answered within 1 s, asked, slowest answer,
/// flood sockets answered).
fn udp_flood_round(
    target: SocketAddr,
    sources: usize,
) -> std::io::Result<(u64, u64, Duration, usize)> {
    use std::net::UdpSocket;
    let established = UdpSocket::bind("127.0.0.1:0")?;
    established.set_read_timeout(Some(SLOW))?;
    let mut buf = [0u8; 64];
    let mut ask = |n: u64| -> std::io::Result<Option<Duration>> {
        let question = format!("established {n}");
        let started = Instant::now();
        established.send_to(question.as_bytes(), target)?;
        loop {
            match established.recv_from(&mut buf) {
                Ok((len, _)) if buf[..len] == *question.as_bytes() => {
                    return Ok(Some(started.elapsed()))
                }
                // An answer to an earlier question that came late.
                Ok(_) => continue,
                Err(_) => return Ok(None),
            }
        }
    };
    // In a conversation before the flood: its first answer.
    ask(0)?;
    let flood: Vec<UdpSocket> = (0..sources)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let (mut answered, mut asked, mut slowest) = (0, 0, Duration::ZERO);
    for (i, socket) in flood.iter().enumerate() {
        socket.send_to(b"fresh", target)?;
        if i % 500 == 499 {
            asked += 1;
            if let Some(took) = ask(asked)? {
                answered += 1;
                slowest = slowest.max(took);
            }
        }
    }
    // Which flood sources were tracked (answered), once the server has caught up.
    std::thread::sleep(Duration::from_millis(200));
    let mut tracked = 0;
    for socket in &flood {
        socket.set_nonblocking(true)?;
        if socket.recv_from(&mut buf).is_ok() {
            tracked += 1;
        }
    }
    Ok((answered, asked, slowest, tracked))
}

async fn udp_flood(args: &Args) -> bool {
    let (target, sources, rounds) = (args.target, args.conns.max(500), args.rounds.max(1));
    let outcome = tokio::task::spawn_blocking(move || {
        let mut clean = 0;
        let mut slowest = Duration::ZERO;
        let mut most_tracked = 0;
        for round in 1..=rounds {
            let (answered, asked, slow, tracked) = udp_flood_round(target, sources)?;
            println!(
                "round {round}: established peer answered {answered}/{asked} within 1 s (slowest {:.1} ms); {tracked} of {sources} flood sources answered",
                slow.as_secs_f64() * 1000.0
            );
            clean += u64::from(answered == asked);
            slowest = slowest.max(slow);
            most_tracked = most_tracked.max(tracked);
            // Let the flood's one-datagram peers become sheddable again.
            std::thread::sleep(Duration::from_millis(1500));
        }
        Ok::<_, std::io::Error>((clean, slowest, most_tracked))
    })
    .await
    .expect("the flood thread");
    match outcome {
        Ok((clean, slowest, most_tracked)) => {
            println!(
                "rounds with every answer within 1 s: {clean} of {rounds}; slowest {:.1} ms; at most {most_tracked} flood sources tracked",
                slowest.as_secs_f64() * 1000.0
            );
            clean == rounds
        }
        Err(err) => {
            eprintln!("udp-flood: {err}");
            false
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse_args();
    let ok = match args.scenario.as_str() {
        "partial" => partial(&args).await,
        "idle" => idle(&args).await,
        "tls" => tls(&args).await,
        "starttls" => starttls(&args).await,
        "slowloris" => slowloris(&args).await,
        "nonreader" => nonreader(&args).await,
        "line-limit" => line_limit(&args).await,
        "churn" => churn(&args).await,
        "udp-flood" => udp_flood(&args).await,
        other => {
            eprintln!("attack: unknown scenario `{other}`");
            return ExitCode::from(2);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
