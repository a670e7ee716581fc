//! echo: a frame echo server.
//!
//! ```text
//! cargo run --release --example echo -- [--listen ADDR] [--framer NAME] [--stats]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:7000`; port 0 picks a free port), prints
//! `listening on tcp ADDR` once bound, and echoes every frame back on the same
//! connection with the same framer (`--framer`, default `line`: identity, line,
//! line-lf, length-u8, length-u16, length-u32, length-u64, length-u16le,
//! length-u32le, length-i32, stuffing, cobs, cobs-zpe, netstring, nul, dot).
//! The application is a `tower::service_fn` behind a `ServiceBuilder` stack (a
//! concurrency limit and a timeout). `--stats` prints the manager's counters once a second on stderr. SIGINT or SIGTERM
//! shut down gracefully (in-flight frames are answered) and exit with status 0.
//!
//! Try it with `printf 'hello\r\n' | nc 127.0.0.1 7000`, or with the `line_client`
//! example.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::{named, NAMES};
use tendril_net::{BoxError, TcpManager, Tendril};
use tower::{service_fn, ServiceBuilder};

struct Args {
    listen: SocketAddr,
    framer: String,
    stats: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: "127.0.0.1:7000".parse().unwrap(),
        framer: "line".into(),
        stats: false,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--listen" => {
                let value = argv.next().ok_or("--listen needs an address")?;
                args.listen = value
                    .parse()
                    .map_err(|err| format!("--listen {value}: {err}"))?;
            }
            "--framer" => args.framer = argv.next().ok_or("--framer needs a name")?,
            "--stats" => args.stats = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if named(&args.framer).is_none() {
        return Err(format!(
            "unknown framer `{}` (names: {})",
            args.framer,
            NAMES.join(", ")
        ));
    }
    Ok(args)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("echo: {message}\nusage: echo [--listen ADDR] [--framer NAME] [--stats]");
            return ExitCode::from(2);
        }
    };
    let manager = TcpManager::new(args.listen);
    let framer = args.framer.clone();
    let acceptor = acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
        let (recv, send) = named(&framer).expect("checked at start");
        tendril.set_boxed_framers(recv, send)?;
        // Any tower middleware composes around the application.
        Ok(ServiceBuilder::new()
            .concurrency_limit(64)
            .timeout(Duration::from_secs(30))
            .service(service_fn(|frame: Bytes| async move {
                Ok::<_, BoxError>(frame)
            })))
    });
    let addr = match manager.start(acceptor) {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!(
                "echo: cannot listen on {}: {err}: {:?}",
                args.listen,
                std::error::Error::source(&err)
            );
            return ExitCode::FAILURE;
        }
    };
    println!("listening on tcp {addr}");
    let _ = std::io::stdout().flush();

    if args.stats {
        let manager = manager.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", manager.stats());
            }
        });
    }

    shutdown_signal().await;
    let finished = manager.graceful_shutdown(Duration::from_secs(5)).await;
    if !finished {
        eprintln!("echo: some connections did not finish within 5 s and were closed");
    }
    ExitCode::SUCCESS
}
