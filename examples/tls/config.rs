//! The TLS flags the TLS examples share: `--tls-self-signed`, or `--tls-cert PEM` with
//! `--tls-key PEM`, and the certificate's reload from those files on SIGHUP.

// Each example uses the part it needs.
#![allow(dead_code)]

use std::path::PathBuf;

use crate::cli::{switch, value, Cli, Flag};
use tendril_net::wrap::rustls::ServerConfig;
use tendril_net::wrap::{tls_server_config, TlsConfigHandle};

/// Where the server's certificate comes from.
#[derive(Debug, Default)]
pub enum TlsSource {
    /// No TLS.
    #[default]
    None,
    /// A self-signed certificate made at start for the host name.
    SelfSigned,
    /// A certificate chain and its key, PEM files.
    Files { cert: String, key: String },
}

/// The TLS flags, for an example's flag list.
pub const FLAGS: [Flag; 3] = [
    switch(
        "--tls-self-signed",
        "TLS with a certificate for --hostname made at start",
    ),
    value(
        "--tls-cert",
        "PEM",
        "TLS with this certificate chain (with --tls-key)",
    ),
    value("--tls-key", "PEM", "the private key of --tls-cert"),
];

/// Where the certificate comes from, by the TLS flags given.
pub fn source(cli: &Cli) -> Result<TlsSource, String> {
    let cert = cli.get("--tls-cert").map(str::to_owned);
    let key = cli.get("--tls-key").map(str::to_owned);
    match (cli.has("--tls-self-signed"), cert, key) {
        (true, None, None) => Ok(TlsSource::SelfSigned),
        (true, _, _) => Err("--tls-self-signed excludes --tls-cert and --tls-key".into()),
        (false, Some(cert), Some(key)) => Ok(TlsSource::Files { cert, key }),
        (false, None, None) => Ok(TlsSource::None),
        _ => Err("--tls-cert and --tls-key go together".into()),
    }
}

/// The server config for `source`, if any; a self-signed certificate is for `hostname`.
pub fn server_config(source: &TlsSource, hostname: &str) -> Result<Option<ServerConfig>, String> {
    let (cert, key) = match source {
        TlsSource::None => return Ok(None),
        TlsSource::SelfSigned => {
            let made = rcgen::generate_simple_self_signed(vec![hostname.to_owned()])
                .map_err(|err| format!("self-signed certificate: {err}"))?;
            (
                made.cert.pem().into_bytes(),
                made.signing_key.serialize_pem().into_bytes(),
            )
        }
        TlsSource::Files { cert, key } => (
            std::fs::read(cert).map_err(|err| format!("--tls-cert {cert}: {err}"))?,
            std::fs::read(key).map_err(|err| format!("--tls-key {key}: {err}"))?,
        ),
    };
    tls_server_config(&cert, &key)
        .map(Some)
        .map_err(|err| format!("TLS configuration: {err:#}"))
}

/// On every SIGHUP, reloads the certificate and key from the files of `source` into
/// `handle`: new handshakes get the new certificate, established connections keep
/// theirs, and files that do not load leave the one in use (one warning). A
/// self-signed certificate has no files: SIGHUP says so. Call within the runtime.
pub fn reload_on_sighup(source: &TlsSource, handle: TlsConfigHandle) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    let files = match source {
        TlsSource::Files { cert, key } => Some((PathBuf::from(cert), PathBuf::from(key))),
        _ => None,
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match &files {
                // Success and failure are each logged by the handle.
                Some((cert, key)) => {
                    let _ = handle.reload_pem(cert, key);
                }
                None => tracing::warn!("SIGHUP: a self-signed certificate has no files to reload"),
            }
        }
    });
    Ok(())
}
