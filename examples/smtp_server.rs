//! smtp_server: a small SMTP server that stores what it receives in a Maildir.
//!
//! ```text
//! cargo run --release --example smtp_server -- [--listen ADDR] [--maildir DIR]
//!     [--tls-self-signed | --tls-cert PEM --tls-key PEM] [--hostname NAME]
//!     [--max-size BYTES]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:2525`) and prints `listening on tcp ADDR`
//! once bound. Speaks the RFC 5321 subset that standard clients need: EHLO (announcing
//! PIPELINING, SIZE, 8BITMIME, and STARTTLS when a certificate is configured and TLS
//! is not yet active), HELO, MAIL FROM (with SIZE and BODY), RCPT TO (up to 100
//! recipients), DATA, RSET, NOOP, QUIT, VRFY (252), and STARTTLS (RFC 3207; the session
//! starts over after the upgrade). Out-of-sequence commands get 503, unknown ones 500
//! (known but not implemented 502), lines over 1000 bytes 500, a message over
//! `--max-size` (default 10 MiB) 552. Pipelined commands are answered in order.
//!
//! The message body is one frame: after `DATA` the connection's receive framer
//! switches to the dot framer (which undoes dot-stuffing) and back. Each accepted
//! message is written to `DIR/tmp/` and renamed into `DIR/new/` (`--maildir`, default
//! `./maildir`, created if missing): a `Return-Path:` line with the envelope sender, an
//! `X-Envelope-To:` line per recipient, then the message exactly as received, CRLF
//! line endings kept.
//!
//! `--tls-self-signed` makes a certificate for `--hostname` (default `localhost`) at
//! start; `--tls-cert`/`--tls-key` load PEM files. Sessions idle for 5 minutes are
//! closed (RFC 5321 §4.5.3.2.7). SIGINT or SIGTERM shut down gracefully.
//!
//! Try it with swaks: `swaks --server 127.0.0.1:2525 --to you@example.org`
//! (add `--tls` with `--tls-self-signed`), or by hand with `nc -C 127.0.0.1 2525`.

#[path = "shared/cli.rs"]
mod cli;
#[path = "smtp/framing.rs"]
mod framing;
#[path = "smtp/maildir.rs"]
mod maildir;
#[path = "smtp/session.rs"]
mod session;
#[path = "shared/signal.rs"]
mod signal;
#[path = "tls/config.rs"]
mod tls_config;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cli::{value, Cli};
use tendril_net::app::acceptor_fn;
use tendril_net::framer::{FramerSwitch, LineFramer};
use tendril_net::wrap::{NoWrapper, TlsServerLayer};
use tendril_net::{BoxError, Manager, TcpManager, Tendril};
use tower::Layer;

use framing::{Commands, Inbound};
use maildir::Maildir;
use session::{Config, Session};
use signal::shutdown_signal;
use tls_config::TlsSource;

struct Args {
    listen: SocketAddr,
    maildir: PathBuf,
    tls: TlsSource,
    hostname: String,
    max_size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut flags = vec![
        value(
            "--listen",
            "ADDR",
            "where to listen (default 127.0.0.1:2525)",
        ),
        value(
            "--maildir",
            "DIR",
            "the Maildir messages are delivered to (default ./maildir)",
        ),
        value(
            "--hostname",
            "NAME",
            "the name in the greeting, and of a self-signed certificate (default localhost)",
        ),
        value(
            "--max-size",
            "BYTES",
            "the largest message accepted, announced as SIZE (default 10 MiB)",
        ),
    ];
    flags.extend(tls_config::FLAGS);
    let cli = Cli::parse(
        "smtp_server",
        "[--listen ADDR] [--maildir DIR] [--tls-self-signed | --tls-cert PEM --tls-key PEM] \
         [--hostname NAME] [--max-size BYTES]",
        "An SMTP server (with STARTTLS when given a certificate) delivering to a Maildir.",
        &flags,
    );
    Ok(Args {
        listen: cli.parsed_or("--listen", ([127, 0, 0, 1], 2525).into()),
        maildir: cli.get("--maildir").unwrap_or("./maildir").into(),
        tls: tls_config::source(&cli)?,
        hostname: cli.get("--hostname").unwrap_or("localhost").to_owned(),
        max_size: cli.parsed_or("--max-size", 10 * 1024 * 1024),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("smtp_server: {err:#}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("smtp_server: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    let maildir = Maildir::create(&args.maildir)
        .map_err(|err| format!("--maildir {}: {err:#}", args.maildir.display()))?;
    let tls = tls_config::server_config(&args.tls, &args.hostname)?.map(TlsServerLayer::new);
    if let Some(layer) = &tls {
        // A renewed certificate without a restart: SIGHUP reloads the files.
        tls_config::reload_on_sighup(&args.tls, layer.config_handle())?;
    }
    let tls = tls.map(|layer| layer.layer(NoWrapper));
    let config = Arc::new(Config {
        hostname: args.hostname,
        max_size: args.max_size,
        maildir,
        tls,
    });
    let shutdown = shutdown_signal();
    let manager = TcpManager::builder(args.listen)
        .idle_timeout(Some(Duration::from_secs(300)))
        .build();
    let addr = manager.start_with_framers(
        acceptor_fn(
            move |tendril: Tendril<Inbound, Bytes>| -> Result<_, BoxError> {
                let session = Session::new(config.clone(), tendril.clone());
                tendril.try_send_frame(session.greeting())?;
                // Shed for the memory budget (too many large bodies at once): say so.
                tendril.set_shed_reply(Bytes::from_static(
                    b"452 4.3.1 Insufficient system storage, try again later",
                ));
                Ok(session)
            },
        ),
        NoWrapper,
        || FramerSwitch::with_framers(Commands::new(), LineFramer::new()),
    )?;
    println!("listening on tcp {addr}");
    shutdown.await;
    manager.graceful_shutdown(Duration::from_secs(5)).await;
    Ok(())
}
