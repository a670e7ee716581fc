//! UDP, measured the way that counts: tendril-net's `echo --transport udp` and a
//! hand-written tokio `UdpSocket` loop (`baseline_udp`) as separate processes, driven
//! by this process as the one load client, runs interleaved, ratio of medians.
//!
//! ```text
//! cargo bench --bench udp                      # everything, 7 rounds
//! ECHO_BENCH_ROUNDS=3 cargo bench --bench udp  # quicker, noisier
//! ECHO_BENCH=churn cargo bench --bench udp     # one section: throughput | churn
//! ECHO_BENCH_OTHER=/path/to/echo cargo bench --bench udp  # A/B: another build too
//! ```
//!
//! Throughput: echoed datagrams per second with 1 peer (32 in flight), 100 peers (4
//! in flight each) and 10,000 peers (one client socket each, every echo checked),
//! and each server process's CPU time per datagram (user + system, from
//! `/proc/PID/stat`). The 10,000-peer
//! case needs that many file descriptors (`ulimit -n`).
//!
//! Churn: the server's resident memory while distinct short-lived peers come and go
//! (each sends one query from a fresh port, like a DNS resolver) at four times the
//! peer table's size, and the share of queries answered when new sources arrive at a
//! steady rate past the table's capacity.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tendril_bench::udp::{run_udp, runtime, sockets, UdpLoad};
use tendril_bench::{compare, example, rounds, section, Server};
use tokio::net::UdpSocket;

fn throughput(echo: &Path, baseline: &Path) {
    let rounds = rounds(7);
    const ECHO: [&str; 6] = [
        "--transport",
        "udp",
        "--listen",
        "127.0.0.1:0",
        "--max-peers",
        "20000",
    ];
    let mut servers = vec![
        Server::start("echo --transport udp", echo, &ECHO),
        Server::start("hand-written tokio", baseline, &[]),
    ];
    // A/B against another build of the example (an older commit, say); the
    // hand-written loop stays last, the baseline.
    if let Some(other) = std::env::var_os("ECHO_BENCH_OTHER") {
        let at = servers.len() - 1;
        servers.insert(at, Server::start("other echo", Path::new(&other), &ECHO));
    }
    for load in [
        UdpLoad {
            peers: 1,
            datagrams: 200_000,
            window: 32,
            active: 1,
        },
        UdpLoad {
            peers: 100,
            datagrams: 2_000,
            window: 4,
            active: 100,
        },
        UdpLoad {
            peers: 10_000,
            datagrams: 20,
            window: 2,
            active: 100,
        },
    ] {
        let sockets = sockets(load.peers);
        let mut lost = vec![0; servers.len()];
        compare(
            &format!(
                "UDP echo, {} peers x {} datagrams, {} in flight each, {} at a time",
                load.peers, load.datagrams, load.window, load.active
            ),
            "datagrams/s",
            &servers,
            rounds,
            |server| {
                let outcome = run_udp(&sockets, server.addr, &load);
                let at = servers.iter().position(|s| s.addr == server.addr);
                lost[at.expect("one of the servers")] += outcome.lost;
                outcome.run
            },
        );
        for (server, lost) in servers.iter().zip(lost) {
            println!("lost by {}: {lost}", server.name);
        }
    }
}

/// Each of `count` fresh sockets sends one query and waits up to 200 ms for its
/// answer, 100 at a time (more at once would overflow the kernel's receive buffer and
/// measure that); returns how many were answered. The sockets bind `source`, on port
/// `first_port + i` for the `i`-th when `first_port` is given (distinct peers), or on
/// ports the kernel picks (which it soon reuses).
async fn one_shot_queries(
    server: SocketAddr,
    count: usize,
    source: std::net::Ipv4Addr,
    first_port: Option<u16>,
) -> usize {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let port = first_port.map_or(0, |first| first + i as u16);
        let socket = UdpSocket::bind((source, port)).await.expect("bind");
        tasks.push(tokio::spawn(async move {
            let _slot = slot;
            let query = format!("query {i}");
            socket
                .send_to(query.as_bytes(), server)
                .await
                .expect("send");
            let mut buf = [0u8; 64];
            let answer =
                tokio::time::timeout(Duration::from_millis(200), socket.recv_from(&mut buf)).await;
            matches!(answer, Ok(Ok((len, _))) if buf[..len] == *query.as_bytes())
        }));
    }
    let mut answered = 0;
    for task in tasks {
        answered += usize::from(task.await.expect("a query failed"));
    }
    answered
}

fn churn(echo: &Path) {
    let client = runtime();
    // RSS under churn: a 5,000-peer table, 80,000 distinct peers in rounds of 5,000,
    // two reclaim times apart (1 s).
    const TABLE: usize = 5_000;
    let server = Server::start(
        "echo --transport udp",
        echo,
        &[
            "--transport",
            "udp",
            "--listen",
            "127.0.0.1:0",
            "--max-peers",
            &TABLE.to_string(),
            "--idle-timeout",
            "10",
        ],
    );
    println!("\nUDP churn: rounds of {TABLE} new one-query peers, table of {TABLE}");
    println!("| round | answered | server RSS (KiB) |");
    println!("|---|---|---|");
    println!("| before | - | {} |", server.rss_kib());
    for round in 1..=16u8 {
        // Each round from its own loopback address and ports: every peer is a new one.
        // (With ports the kernel picks, it reuses a port within milliseconds now and
        // then; the same address soon again is the same peer, in a conversation.)
        let source = std::net::Ipv4Addr::new(127, 0, 1, round);
        let answered = client.block_on(one_shot_queries(server.addr, TABLE, source, Some(20_000)));
        std::thread::sleep(Duration::from_millis(2_000));
        println!("| {round} | {answered} | {} |", server.rss_kib());
    }
    drop(server);

    // A steady stream of new sources past the table's size: max_peers 2,000, idle
    // timeout 10 s, 400 new sources a second for 15 s.
    let server = Server::start(
        "echo --transport udp",
        echo,
        &[
            "--transport",
            "udp",
            "--listen",
            "127.0.0.1:0",
            "--max-peers",
            "2000",
            "--idle-timeout",
            "10",
        ],
    );
    let start = Instant::now();
    let (mut sent, mut answered) = (0, 0);
    let established = client
        .block_on(UdpSocket::bind("127.0.0.1:0"))
        .expect("bind");
    let mut slowest = Duration::ZERO;
    for tick in 0..300 {
        // 20 sources every 50 ms.
        answered += client.block_on(one_shot_queries(
            server.addr,
            20,
            [127, 0, 0, 1].into(),
            None,
        ));
        sent += 20;
        // An established peer asks every 10th tick: it must never wait.
        if tick % 10 == 0 {
            let asked = Instant::now();
            client.block_on(async {
                established
                    .send_to(b"still there?", server.addr)
                    .await
                    .expect("send");
                let mut buf = [0u8; 64];
                tokio::time::timeout(Duration::from_secs(5), established.recv_from(&mut buf))
                    .await
                    .expect("the established peer was answered")
                    .expect("receive");
            });
            slowest = slowest.max(asked.elapsed());
        }
        let due = Duration::from_millis(50 * (tick + 1));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    println!("\nUDP sources past capacity (max_peers 2000, idle 10 s, 400 new sources/s for 15 s)");
    println!("| queries | answered | share | slowest answer to the established peer |");
    println!("|---|---|---|---|");
    println!(
        "| {sent} | {answered} | {:.1}% | {:.1} ms |",
        100.0 * answered as f64 / sent as f64,
        slowest.as_secs_f64() * 1000.0
    );
}

fn main() {
    let echo = example("echo");
    let baseline = PathBuf::from(env!("CARGO_BIN_EXE_baseline_udp"));
    if section("throughput") {
        throughput(&echo, &baseline);
    }
    if section("churn") {
        churn(&echo);
        if let Some(other) = std::env::var_os("ECHO_BENCH_OTHER") {
            println!(
                "\n(the same for the other echo: {})",
                Path::new(&other).display()
            );
            churn(Path::new(&other));
        }
    }
}
