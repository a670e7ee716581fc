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
    let tcp = tokio::time::timeout(LIMIT, TcpStream::connect(&server.listening))
        .await
        .unwrap()
        .unwrap();
    let client = TlsClientLayer::new(tls_client_config(pem.as_bytes()).unwrap(), "localhost")
        .unwrap()
        .layer(NoWrapper);
    let tls = tokio::time::timeout(LIMIT, client.oneshot(tcp))
        .await
        .unwrap()
        .expect("handshake with the example's certificate");
    let mut lines = Framed::new(tls, LineFramer::new());
    for line in ["hello", "over", "tls"] {
        lines.send(Bytes::from(line)).await.unwrap();
        let echoed = tokio::time::timeout(LIMIT, lines.next()).await.unwrap();
        assert_eq!(echoed.unwrap().unwrap(), line);
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
