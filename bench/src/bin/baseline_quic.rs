//! baseline_quic: the hand-written quinn echo server that the QUIC benchmark compares
//! `echo --transport quic` against.
//!
//! ```text
//! baseline_quic ADDR CERT_PEM KEY_PEM lines|length    (prints `listening on quic ADDR`)
//! ```
//!
//! What one writes by hand: a multi-thread runtime with 2 workers, a quinn endpoint
//! (ALPN `echo`), a task per connection accepting bidirectional streams and a task per
//! stream running `FramedRead::new(recv, codec).forward(FramedWrite::new(send, codec))`
//! until the client finishes its side, then finishing the stream. `lines`: lines split
//! at `\n` (delimiter kept, 8 KiB at most) written back as they are; `length`:
//! tokio-util's `LengthDelimitedCodec` (4-byte big-endian length) both ways.

use std::sync::Arc;

use futures_util::StreamExt;
use quinn::crypto::rustls::QuicServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tendril_bench::Lines;
use tokio_util::codec::{BytesCodec, FramedRead, FramedWrite, LengthDelimitedCodec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, cert, key, mode] = &args[..] else {
        eprintln!("usage: baseline_quic ADDR CERT_PEM KEY_PEM lines|length");
        std::process::exit(2);
    };
    let lines = match mode.as_str() {
        "lines" => true,
        "length" => false,
        other => panic!("unknown mode {other}"),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("certificate")
        .collect::<Result<_, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(key).expect("key");
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .expect("TLS 1.3")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("TLS");
    tls.alpn_protocols = vec![b"echo".to_vec()];
    let crypto = QuicServerConfig::try_from(tls).expect("QUIC TLS");
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let runtime = tendril_bench::udp::runtime();
    runtime.block_on(async move {
        let endpoint = quinn::Endpoint::server(config, addr.parse().expect("ADDR")).expect("bind");
        tendril_bench::baseline::announce("quic", endpoint.local_addr().expect("address"));
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((send, recv)) = connection.accept_bi().await {
                    tokio::spawn(async move {
                        if lines {
                            let _ = FramedRead::new(recv, Lines::default())
                                .forward(FramedWrite::new(send, BytesCodec::new()))
                                .await;
                        } else {
                            let _ = FramedRead::new(recv, LengthDelimitedCodec::new())
                                .map(|frame| frame.map(|frame| frame.freeze()))
                                .forward(FramedWrite::new(send, LengthDelimitedCodec::new()))
                                .await;
                        }
                    });
                }
            });
        }
    });
}
