//! The `echo` example deployed the ways the README's "Deploying" section describes,
//! as real processes: started by `systemd-socket-activate` on a socket it did not
//! create, and several processes on one port with `--reuse-port` (TCP and UDP). The
//! socket-activation test is skipped where the tool is missing, unless
//! `TENDRIL_REQUIRE_TOOLS` is set (as `.ci/run` does).

use crate::support;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{connect_when_up, exchange, free_port, Killed};

#[test]
#[cfg(all(unix, feature = "systemd"))]
fn socket_activated_by_systemd_socket_activate() {
    if !support::have_tool("systemd-socket-activate", &["--version"]) {
        return;
    }
    let port = free_port();
    let _activator = Killed(
        Command::new("systemd-socket-activate")
            .args(["-l", &format!("127.0.0.1:{port}")])
            .arg(support::example("echo"))
            .args(["--listen", "systemd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start systemd-socket-activate"),
    );
    // The connection that starts echo, and a second one.
    let mut first = connect_when_up(port);
    exchange(&mut first, b"first\r\n");
    let mut second = connect_when_up(port);
    exchange(&mut second, b"second\r\n");
    exchange(&mut first, b"again\r\n");
}

/// Starts `echo ARGS --stats` and forwards its stats lines.
fn echo_with_stats(args: &[&str]) -> (Killed, mpsc::Receiver<String>) {
    let mut child = Command::new(support::example("echo"))
        .args(args)
        .arg("--stats")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo");
    let stderr: ChildStderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Anything else (an error, a log event) is shown, not taken for stats.
            if !line.contains(" frames_in=") {
                eprintln!("echo: {line}");
                continue;
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Killed(child), rx)
}

/// Two `echo ARGS --stats` processes, once both are bound (each printed its first
/// stats line).
fn two_echos(
    args: &[&str],
) -> (
    (Killed, mpsc::Receiver<String>),
    (Killed, mpsc::Receiver<String>),
) {
    let (a, b) = (echo_with_stats(args), echo_with_stats(args));
    for (_, stats) in [&a, &b] {
        stats
            .recv_timeout(Duration::from_secs(20))
            .expect("echo started");
    }
    (a, b)
}

/// The `frames_in` of a stats line.
fn frames_in(line: &str) -> u64 {
    line.split(' ')
        .find_map(|field| field.strip_prefix("frames_in="))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no frames_in in {line:?}"))
}

/// Waits (bounded) until the two processes' latest stats add up to `total` frames,
/// and returns each one's share.
fn shares(a: &mpsc::Receiver<String>, b: &mpsc::Receiver<String>, total: u64) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut x, mut y) = (0, 0);
    while x + y < total {
        assert!(
            Instant::now() < deadline,
            "stats stuck at {x} + {y} of {total}"
        );
        while let Ok(line) = a.try_recv() {
            x = frames_in(&line);
        }
        while let Ok(line) = b.try_recv() {
            y = frames_in(&line);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (x, y)
}

#[test]
fn two_processes_share_one_tcp_port_with_reuse_port() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--listen", &listen, "--reuse-port"];
    let ((_a, a_stats), (_b, b_stats)) = two_echos(&args);
    let total = 64;
    let mut streams = Vec::new();
    for i in 0..total {
        let mut stream = connect_when_up(port);
        exchange(&mut stream, format!("line {i}\r\n").as_bytes());
        streams.push(stream);
    }
    let (x, y) = shares(&a_stats, &b_stats, total);
    assert_eq!(x + y, total);
    assert!(
        x > 0 && y > 0,
        "the kernel spread the connections: {x} and {y}"
    );
}

#[test]
fn two_processes_share_one_udp_port_with_reuse_port() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--transport", "udp", "--listen", &listen, "--reuse-port"];
    let ((_a, a_stats), (_b, b_stats)) = two_echos(&args);
    // 64 peers (64 source ports), one datagram each, each answered by whichever
    // process its address hashes to.
    let total = 64;
    let mut peers = Vec::new();
    for i in 0..total {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let message = format!("datagram {i}");
        peer.send_to(message.as_bytes(), ("127.0.0.1", port))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = peer.recv(&mut buf).expect("echoed");
        assert_eq!(&buf[..n], message.as_bytes());
        peers.push(peer);
    }
    let (x, y) = shares(&a_stats, &b_stats, total);
    assert!(x > 0 && y > 0, "the kernel spread the peers: {x} and {y}");
}
