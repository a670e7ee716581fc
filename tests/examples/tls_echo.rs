//! The `tls_echo` example's contract, run as a real process.

use crate::support;

use crate::support::LIMIT;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tendril_net::framer::LineFramer;
use tendril_net::wrap::{tls_client_config, NoWrapper, TlsClientLayer};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tower::Layer;
use tower::ServiceExt;

#[tokio::test]
async fn echoes_lines_over_tls_with_the_given_certificate() {
    let dir = std::env::temp_dir().join(format!("tendril-tls-echo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (server, _, pem) =
        support::start_with_certificate("tls_echo", &dir, &["--listen", "127.0.0.1:0"]);
    let mut lines = connect_trusting(&server.listening, &pem)
        .await
        .expect("handshake with the example's certificate");
    for line in ["hello", "over", "tls"] {
        echoes(&mut lines, line).await;
    }
}

#[test]
fn half_a_certificate_is_a_usage_error() {
    let output = std::process::Command::new(support::example("tls_echo"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert", "cert.pem"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--tls-cert and --tls-key go together")
    );
}

/// A TLS line client of `addr` trusting `pem`: the handshake's result.
async fn connect_trusting(
    addr: &str,
    pem: &str,
) -> Result<
    Framed<impl tokio::io::AsyncRead + tokio::io::AsyncWrite, LineFramer>,
    tendril_net::BoxError,
> {
    let tcp = tokio::time::timeout(LIMIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let client = TlsClientLayer::new(tls_client_config(pem.as_bytes()).unwrap(), "localhost")
        .unwrap()
        .layer(NoWrapper);
    let tls = tokio::time::timeout(LIMIT, client.oneshot(tcp))
        .await
        .unwrap()?;
    Ok(Framed::new(tls, LineFramer::new()))
}

async fn echoes<T>(lines: &mut Framed<T, LineFramer>, line: &'static str)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    lines.send(Bytes::from(line)).await.unwrap();
    let echoed = tokio::time::timeout(LIMIT, lines.next()).await.unwrap();
    assert_eq!(echoed.unwrap().unwrap(), line);
}

/// SIGHUP reloads the certificate files: new handshakes get the new certificate, a
/// connection made before keeps echoing, and files that do not load keep the one in
/// use (with one warning naming the file).
#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_it_when_the_files_are_broken() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("tendril-tls-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, pem_a) = support::certificate_files(&dir);
    let mut child = Command::new(support::example("tls_echo"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim_end()
        .strip_prefix("listening on tcp ")
        .unwrap()
        .to_owned();
    let (log_tx, log) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
    let server = support::Killed(child);
    let hangup = || support::signal(server.0.id(), "-HUP");
    let logged = |what: &str| loop {
        let line = log.recv_timeout(LIMIT).expect("the reload is logged");
        if line.contains(what) {
            return line;
        }
    };

    let mut before = connect_trusting(&addr, &pem_a).await.unwrap();
    echoes(&mut before, "before").await;

    // Certificate B in the same files, then SIGHUP.
    let (_, _, pem_b) = support::certificate_files(&dir);
    hangup();
    logged("TLS certificate reloaded");
    let mut after = connect_trusting(&addr, &pem_b).await.expect("B is served");
    echoes(&mut after, "after").await;
    assert!(
        connect_trusting(&addr, &pem_a).await.is_err(),
        "A is no longer served"
    );
    echoes(&mut before, "still").await;

    // Broken files: B stays.
    std::fs::write(&cert, "not a certificate").unwrap();
    hangup();
    let warning = logged("TLS certificate not reloaded");
    assert!(
        warning.contains(" WARN ") && warning.contains(&cert),
        "{warning}"
    );
    let mut kept = connect_trusting(&addr, &pem_b).await.expect("B is kept");
    echoes(&mut kept, "kept").await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
