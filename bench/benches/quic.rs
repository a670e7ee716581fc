//! QUIC, measured the way that counts: tendril-net's `echo --transport quic` and a
//! hand-written quinn echo server (`baseline_quic`) as separate processes, driven by
//! this process as the one load client (quinn), runs interleaved, ratio of medians.
//!
//! ```text
//! cargo bench --bench quic                      # both loads, 5 rounds
//! ECHO_BENCH_ROUNDS=3 cargo bench --bench quic  # quicker, noisier
//! ECHO_BENCH=lines cargo bench --bench quic     # one section: lines | frames | memory
//! ```
//!
//! Lines: 4 connections × 8 streams, each stream 50,000 lines of 16 bytes pipelined,
//! finished, echoed back. Frames: 4 connections × 4 streams, each 400 frames of 64 KiB
//! with a 4-byte length (`echo --framer length-u32` against tokio-util's
//! `LengthDelimitedCodec`). Both servers get the same certificate, made here.
//!
//! Memory: resident memory per idle QUIC connection with one idle stream (1,000
//! connections that each exchanged one line on their stream, RSS delta / 1,000), for
//! both servers.

use std::path::{Path, PathBuf};

use std::time::Duration;

use tendril_bench::quic::{run_quic, while_idle, Framing, QuicLoad};
use tendril_bench::{compare, example, rounds, section, Server};

/// A certificate for `localhost`, written to a fresh directory: (cert, key) paths.
fn certificate() -> (String, String) {
    let dir = std::env::temp_dir().join(format!("tendril-quic-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write cert");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write key");
    (cert.display().to_string(), key.display().to_string())
}

/// Both servers, with `echo --framer framer` and the baseline's `mode`, on the
/// certificate `cert`/`key`.
fn servers(
    echo: &Path,
    baseline: &Path,
    framer: &str,
    mode: &str,
    (cert, key): (&str, &str),
) -> [Server; 2] {
    let echo_args = [
        "--transport",
        "quic",
        "--listen",
        "127.0.0.1:0",
        "--framer",
        framer,
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ];
    [
        Server::start("echo --transport quic", echo, &echo_args),
        Server::start(
            "hand-written quinn",
            baseline,
            &["127.0.0.1:0", cert, key, mode],
        ),
    ]
}

fn run(echo: &Path, baseline: &Path, name: &str, framer: &str, mode: &str, load: QuicLoad) {
    let (cert, key) = certificate();
    let servers = servers(echo, baseline, framer, mode, (&cert, &key));
    compare(name, "frames/s", &servers, rounds(5), |server| {
        run_quic(server.addr, &cert, &load)
    });
}

/// RSS per idle connection of each server, KiB delta / connections, in bytes.
fn memory(echo: &Path, baseline: &Path) {
    const CONNECTIONS: usize = 1000;
    let (cert, key) = certificate();
    let servers = servers(echo, baseline, "line-lf", "lines", (&cert, &key));
    println!(
        "\nmemory per idle QUIC connection with one idle stream ({CONNECTIONS} connections)\n"
    );
    println!("| server | RSS before, KiB | with them, KiB | per connection, bytes |");
    println!("|---|---|---|---|");
    for server in &servers {
        let before = server.rss_kib();
        let during = while_idle(server.addr, &cert, CONNECTIONS, || {
            // Let the handshakes' transient buffers go.
            std::thread::sleep(Duration::from_millis(500));
            server.rss_kib()
        });
        let per = (during.saturating_sub(before)) * 1024 / CONNECTIONS as u64;
        println!("| {} | {before} | {during} | {per} |", server.name);
    }
}

fn main() {
    let echo = example("echo");
    let baseline = PathBuf::from(env!("CARGO_BIN_EXE_baseline_quic"));
    if section("lines") {
        let load = QuicLoad {
            connections: 4,
            streams: 8,
            frames: 50_000,
            framing: Framing::Lines(16),
        };
        let name = "QUIC line echo, 4 connections x 8 streams x 50,000 lines of 16 bytes";
        run(&echo, &baseline, name, "line-lf", "lines", load);
    }
    if section("frames") {
        let load = QuicLoad {
            connections: 4,
            streams: 4,
            frames: 400,
            framing: Framing::Length(64 * 1024),
        };
        let name = "QUIC frame echo, 4 connections x 4 streams x 400 frames of 64 KiB";
        run(&echo, &baseline, name, "length-u32", "length", load);
    }
    if section("memory") {
        memory(&echo, &baseline);
    }
}
