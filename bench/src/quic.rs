//! The QUIC load client: `connections` QUIC connections, each with `streams` streams
//! at once, each stream sending `frames` frames (16-byte lines, or length-prefixed
//! frames), finishing, and checking every byte that comes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use quinn::crypto::rustls::QuicClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::Run;

/// How a QUIC stream's frames look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Lines of this many bytes, the `\n` included.
    Lines(usize),
    /// 4-byte big-endian length, then this many bytes.
    Length(usize),
}

/// A QUIC echo load.
#[derive(Debug, Clone, Copy)]
pub struct QuicLoad {
    /// QUIC connections.
    pub connections: usize,
    /// Streams per connection, all at once.
    pub streams: usize,
    /// Frames per stream.
    pub frames: usize,
    /// The frames.
    pub framing: Framing,
}

/// What stream `id` sends: distinct bytes, so that a misrouted echo is caught.
fn script(id: usize, load: &QuicLoad) -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..load.frames {
        let tag = format!("s{id}-{i}");
        match load.framing {
            Framing::Lines(bytes) => {
                let start = data.len();
                data.extend_from_slice(tag.as_bytes());
                data.resize(start + bytes - 1, b'.');
                data.push(b'\n');
            }
            Framing::Length(bytes) => {
                data.extend_from_slice(&(bytes as u32).to_be_bytes());
                let start = data.len();
                data.extend_from_slice(tag.as_bytes());
                data.resize(start + bytes, b'.');
            }
        }
    }
    data
}

/// A client TLS configuration trusting the certificate in `cert_pem` (ALPN `echo`).
fn client_config(cert_pem: &str) -> quinn::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem).expect("certificate") {
        roots.add(cert.expect("certificate")).expect("a root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"echo".to_vec()];
    quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).expect("QUIC TLS")))
}

/// A client endpoint on loopback trusting `cert_pem`.
fn endpoint(cert_pem: &str) -> quinn::Endpoint {
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("client endpoint");
    endpoint.set_default_client_config(client_config(cert_pem));
    endpoint
}

/// Runs `load` against the QUIC echo server at `addr` (its certificate in
/// `cert_pem`, for `localhost`); the frames echoed per second.
///
/// # Panics
///
/// If a connection or stream fails, or anything comes back other than what was sent.
pub fn run_quic(addr: SocketAddr, cert_pem: &str, load: &QuicLoad) -> Run {
    let runtime = crate::udp::runtime();
    let load = *load;
    runtime.block_on(async move {
        let endpoint = endpoint(cert_pem);
        let mut connections = Vec::new();
        for _ in 0..load.connections {
            let connecting = endpoint.connect(addr, "localhost").expect("connect");
            connections.push(connecting.await.expect("handshake"));
        }
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (c, connection) in connections.iter().enumerate() {
            for s in 0..load.streams {
                let connection = connection.clone();
                let data = script(c * load.streams + s, &load);
                tasks.spawn(async move {
                    let (mut send, mut recv) = connection.open_bi().await.expect("a stream");
                    let expected = data.clone();
                    let writer = tokio::spawn(async move {
                        send.write_all(&data).await.expect("write");
                        send.finish().expect("finish");
                        // Until the server has taken it all.
                        let _ = send.stopped().await;
                    });
                    let echoed = recv
                        .read_to_end(expected.len() + 1)
                        .await
                        .expect("read the echo");
                    assert!(echoed == expected, "the echo differs from what was sent");
                    writer.await.expect("writer");
                });
            }
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a stream's task");
        }
        let elapsed = start.elapsed().as_secs_f64();
        let frames = (load.connections * load.streams * load.frames) as u64;
        for connection in &connections {
            connection.close(0u32.into(), b"done");
        }
        endpoint.wait_idle().await;
        Run {
            rate: frames as f64 / elapsed,
            frames,
        }
    })
}

/// Opens `connections` QUIC connections to `addr`, each with one stream that exchanged
/// one line and stays open (idle), then runs `measure` while they are all open.
///
/// # Panics
///
/// If a connection or its line fails.
pub fn while_idle<T>(
    addr: SocketAddr,
    cert_pem: &str,
    connections: usize,
    measure: impl FnOnce() -> T,
) -> T {
    let runtime = crate::udp::runtime();
    let held = runtime.block_on(async move {
        let endpoint = endpoint(cert_pem);
        let mut held = Vec::new();
        for _ in 0..connections {
            let connecting = endpoint.connect(addr, "localhost").expect("connect");
            let connection = connecting.await.expect("handshake");
            let (mut send, mut recv) = connection.open_bi().await.expect("a stream");
            send.write_all(b"idle\n").await.expect("write");
            let mut echo = [0u8; 5];
            recv.read_exact(&mut echo).await.expect("echo");
            held.push((connection, send, recv));
        }
        (endpoint, held)
    });
    let measured = measure();
    drop(held);
    measured
}
