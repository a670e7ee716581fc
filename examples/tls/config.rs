//! The TLS flags the TLS examples share: `--tls-self-signed`, or `--tls-cert PEM` with
//! `--tls-key PEM`.

use tendril_net::wrap::rustls::ServerConfig;
use tendril_net::wrap::tls_server_config;

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

/// Takes the TLS flags out of a command line: `Ok(true)` if `arg` was one of them.
pub fn take_flag(
    arg: &str,
    mut value: impl FnMut(&str) -> Result<String, String>,
    source: &mut TlsSource,
    cert: &mut Option<String>,
    key: &mut Option<String>,
) -> Result<bool, String> {
    match arg {
        "--tls-self-signed" => *source = TlsSource::SelfSigned,
        "--tls-cert" => *cert = Some(value("--tls-cert")?),
        "--tls-key" => *key = Some(value("--tls-key")?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Checks the combination of flags.
pub fn finish(
    source: TlsSource,
    cert: Option<String>,
    key: Option<String>,
) -> Result<TlsSource, String> {
    match (source, cert, key) {
        (TlsSource::SelfSigned, None, None) => Ok(TlsSource::SelfSigned),
        (TlsSource::SelfSigned, _, _) => {
            Err("--tls-self-signed excludes --tls-cert and --tls-key".into())
        }
        (_, Some(cert), Some(key)) => Ok(TlsSource::Files { cert, key }),
        (_, None, None) => Ok(TlsSource::None),
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
        .map_err(|err| format!("TLS configuration: {err}: {}", source_of(&err)))
}

fn source_of(err: &tendril_net::Error) -> String {
    std::error::Error::source(err)
        .map(ToString::to_string)
        .unwrap_or_default()
}
