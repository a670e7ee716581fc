//! tls_echo: the line echo server over TLS.
//!
//! ```text
//! cargo run --release --example tls_echo -- [--listen ADDR]
//!     [--tls-self-signed | --tls-cert PEM --tls-key PEM] [--hostname NAME]
//! ```
//!
//! Listens on `--listen` (default `127.0.0.1:7443`), prints `listening on tcp ADDR`
//! once bound, completes a TLS handshake with each client (a certificate made at start
//! for `--hostname`, default `localhost`, unless `--tls-cert`/`--tls-key` give PEM
//! files), then echoes every CRLF line. The wrapper is a `WrapperChain` of socket
//! options (keepalive) and the TLS server layer (10 s handshake timeout, at most 256
//! handshakes at once). SIGINT or SIGTERM shut down gracefully.
//!
//! Try it with `openssl s_client -connect 127.0.0.1:7443 -crlf -quiet`.

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/signal.rs"]
mod signal;
#[path = "tls/config.rs"]
mod tls_config;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use cli::{value, Cli};
use signal::shutdown_signal;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::LineFramer;
use tendril_net::wrap::{SocketOptionsLayer, TlsServerLayer, WrapperChain};
use tendril_net::{BoxError, Manager, TcpManager, Tendril};
use tls_config::TlsSource;
use tower::service_fn;

fn parse_args() -> Result<(SocketAddr, TlsSource, String), String> {
    let mut flags = vec![
        value(
            "--listen",
            "ADDR",
            "where to listen (default 127.0.0.1:7443)",
        ),
        value(
            "--hostname",
            "NAME",
            "the name a self-signed certificate is for (default localhost)",
        ),
    ];
    flags.extend(tls_config::FLAGS);
    let cli = Cli::parse(
        "tls_echo",
        "[--listen ADDR] [--tls-self-signed | --tls-cert PEM --tls-key PEM] [--hostname NAME]",
        "A line echo server over TLS (self-signed for --hostname unless given files).",
        &flags,
    );
    let source = match tls_config::source(&cli)? {
        // TLS is the point of this example: self-signed unless told otherwise.
        TlsSource::None => TlsSource::SelfSigned,
        source => source,
    };
    let listen = cli.parsed_or("--listen", ([127, 0, 0, 1], 7443).into());
    let hostname = cli.get("--hostname").unwrap_or("localhost").to_owned();
    Ok((listen, source, hostname))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (listen, source, hostname) = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("tls_echo: {err:#}");
            return ExitCode::from(2);
        }
    };
    match run(listen, &source, &hostname).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tls_echo: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(listen: SocketAddr, source: &TlsSource, hostname: &str) -> Result<(), BoxError> {
    let config = tls_config::server_config(source, hostname)?.ok_or("no TLS configuration")?;
    let tls = TlsServerLayer::new(config);
    // A renewed certificate without a restart: SIGHUP reloads the files.
    tls_config::reload_on_sighup(source, tls.config_handle())?;
    let wrapper = WrapperChain::new()
        .layer(SocketOptionsLayer::new().keepalive(Some(Duration::from_secs(60))))
        .layer(tls);
    let shutdown = shutdown_signal();
    let manager = TcpManager::new(listen);
    let addr = manager.start(
        acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
            tendril.set_framers(LineFramer::new(), LineFramer::new())?;
            Ok(service_fn(
                |line: Bytes| async move { Ok::<_, BoxError>(line) },
            ))
        }),
        wrapper,
    )?;
    println!("listening on tcp {addr}");
    shutdown.await;
    manager.graceful_shutdown(Duration::from_secs(5)).await;
    Ok(())
}
