//! The framework's cost, measured the way that counts: tendril-net's `echo` example and
//! a hand-written tokio + tokio-util server (`baseline_echo`) as separate processes,
//! driven by this process as the one load client (std threads, every echoed byte
//! checked), runs interleaved, ratio of medians.
//!
//! ```text
//! cargo bench --bench echo                      # everything, 9 rounds
//! ECHO_BENCH_ROUNDS=3 cargo bench --bench echo  # quicker, noisier
//! ECHO_BENCH=memory cargo bench --bench echo    # one section: throughput | large | memory
//! ECHO_BENCH_OTHER=/path/to/echo cargo bench --bench echo  # A/B: another build too
//! ```
//!
//! Throughput: line echo with unbounded pipelining (4 connections x 1,000,000 lines of
//! 16 bytes) and ping-pong (64 connections, one line in flight), for `echo --framer
//! line-lf` as is, with `--timeout 30` (the built-in call timeout) and with `--tower`
//! (tower's `ConcurrencyLimit` and `Timeout` around the service).
//!
//! Large frames: echo of 64 KiB length-prefixed frames (4 connections x 5,000 frames,
//! unbounded pipelining), `echo --framer length-u32` against a hand-written
//! `FramedRead`/`FramedWrite` server with tokio-util's `LengthDelimitedCodec`
//! (`baseline_length`): the server CPU per frame is the CPU per byte, times 65,536.
//!
//! Memory: resident memory per idle connection (5,000 connections that each exchanged
//! one line, RSS delta / 5,000) for `echo` and the baseline; and the RSS growth of
//! `kv_server` storing 20,000 one-byte values that each arrived behind a 60 KB line
//! (a frame kept by the application must not pin the buffer it was split from).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tendril_bench::{compare, example, rounds, run_echo, section, Framing, Load, Server};

fn servers(echo: &Path, baseline: &Path) -> Vec<Server> {
    const LISTEN: [&str; 4] = ["--listen", "127.0.0.1:0", "--framer", "line-lf"];
    let listen = LISTEN;
    fn with(extra: &[&'static str]) -> Vec<&'static str> {
        LISTEN.iter().chain(extra).copied().collect()
    }
    let mut servers = vec![
        Server::start("echo", echo, &listen),
        Server::start("echo --timeout 30", echo, &with(&["--timeout", "30"])),
        Server::start("echo --tower", echo, &with(&["--tower"])),
        Server::start("hand-written tokio", baseline, &[]),
    ];
    // A/B against another build of the example (an older commit, say); the
    // hand-written server stays last, the baseline.
    if let Some(other) = std::env::var_os("ECHO_BENCH_OTHER") {
        let at = servers.len() - 1;
        servers.insert(at, Server::start("other echo", Path::new(&other), &listen));
    }
    servers
}

fn throughput(echo: &Path, baseline: &Path) {
    let rounds = rounds(9);
    let pipelined = Load {
        connections: 4,
        lines: 1_000_000,
        window: 0,
        line_bytes: 16,
        framing: Framing::Lines,
    };
    compare(
        "line echo, 4 connections x 1,000,000 lines, unbounded pipelining",
        "lines/s",
        &servers(echo, baseline),
        rounds,
        |server| run_echo(server.addr, &pipelined),
    );
    let ping_pong = Load {
        connections: 64,
        lines: 3_000,
        window: 1,
        line_bytes: 16,
        framing: Framing::Lines,
    };
    compare(
        "ping-pong, 64 connections, one line in flight",
        "lines/s",
        &servers(echo, baseline),
        rounds,
        |server| run_echo(server.addr, &ping_pong),
    );
}

fn large(echo: &Path, baseline: &Path) {
    const LISTEN: [&str; 4] = ["--listen", "127.0.0.1:0", "--framer", "length-u32"];
    let mut servers = vec![
        Server::start("echo --framer length-u32", echo, &LISTEN),
        Server::start("hand-written tokio (LengthDelimitedCodec)", baseline, &[]),
    ];
    if let Some(other) = std::env::var_os("ECHO_BENCH_OTHER") {
        servers.insert(1, Server::start("other echo", Path::new(&other), &LISTEN));
    }
    let load = Load {
        connections: 4,
        lines: 5_000,
        window: 0,
        line_bytes: 4 + 64 * 1024,
        framing: Framing::Length32,
    };
    compare(
        "64 KiB length-prefixed frames, 4 connections x 5,000 frames, unbounded pipelining",
        "frames/s",
        &servers,
        rounds(9),
        |server| run_echo(server.addr, &load),
    );
}

/// Opens `count` connections that each exchange one line and stay open; returns them.
fn idle_connections(server: &Server, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            stream.write_all(b"hello\n").expect("write");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("echo");
            assert_eq!(line, "hello\n");
            stream
        })
        .collect()
}

/// Resident memory per idle connection of `server`, in bytes.
fn per_idle_connection(server: &Server, count: usize) -> f64 {
    // Warm up: the runtime's threads, the first allocations.
    drop(idle_connections(server, 100));
    std::thread::sleep(Duration::from_millis(200));
    let before = server.rss_kib();
    let open = idle_connections(server, count);
    std::thread::sleep(Duration::from_millis(200));
    let after = server.rss_kib();
    drop(open);
    (after.saturating_sub(before) * 1024) as f64 / count as f64
}

/// RSS growth of kv_server (MiB) storing `count` one-byte values, each behind a line of
/// `junk` bytes that the server answers with an error and drops.
fn pinned_values(kv: &Path, count: usize, junk: usize) -> f64 {
    let server = Server::start("kv_server", kv, &["--listen", "127.0.0.1:0"]);
    let stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // Warm up, then measure from here.
    writer.write_all(b"SET warm up\r\n").expect("write");
    reader.read_line(&mut line).expect("reply");
    std::thread::sleep(Duration::from_millis(100));
    let before = server.rss_kib();
    let mut filler = vec![b'x'; junk];
    filler[..5].copy_from_slice(b"NOOP ");
    let sender = std::thread::spawn(move || {
        for i in 0..count {
            let mut request = filler.clone();
            request.extend_from_slice(format!("\r\nSET key{i} v\r\n").as_bytes());
            writer.write_all(&request).expect("write");
        }
        writer
    });
    let mut stored = 0;
    for _ in 0..2 * count {
        line.clear();
        reader.read_line(&mut line).expect("reply");
        stored += usize::from(line == "OK\r\n");
    }
    let mut writer = sender.join().expect("the writer failed");
    assert_eq!(stored, count, "every value stored");
    writer.write_all(b"GET key7\r\n").expect("write");
    line.clear();
    reader.read_line(&mut line).expect("reply");
    assert_eq!(line, "VALUE v\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let after = server.rss_kib();
    after.saturating_sub(before) as f64 / 1024.0
}

fn memory(echo: &Path, baseline: &Path) {
    const IDLE: usize = 5_000;
    println!("\nresident memory per idle connection ({IDLE} connections, RSS delta / {IDLE})");
    println!("| server | bytes per connection |");
    println!("|---|---|");
    let listen = ["--listen", "127.0.0.1:0", "--framer", "line-lf"];
    let mut servers = vec![Server::start("echo", echo, &listen)];
    if let Some(other) = std::env::var_os("ECHO_BENCH_OTHER") {
        servers.push(Server::start("other echo", Path::new(&other), &listen));
    }
    servers.push(Server::start("hand-written tokio", baseline, &[]));
    for server in servers {
        let bytes = per_idle_connection(&server, IDLE);
        println!("| {} | {bytes:.0} |", server.name);
    }
    let kv = example("kv_server");
    let growth = pinned_values(&kv, 20_000, 60_000);
    println!("\nkv_server: 20,000 kept one-byte values, each behind a 60 KB line");
    println!("| RSS growth |");
    println!("|---|");
    println!("| {growth:.1} MiB |");
}

fn main() {
    let echo = example("echo");
    let baseline = PathBuf::from(env!("CARGO_BIN_EXE_baseline_echo"));
    if section("throughput") {
        throughput(&echo, &baseline);
    }
    if section("large") {
        let baseline = PathBuf::from(env!("CARGO_BIN_EXE_baseline_length"));
        large(&echo, &baseline);
    }
    if section("memory") {
        memory(&echo, &baseline);
    }
}
