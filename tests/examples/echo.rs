//! The `echo` example's command-line contract, run as a real process.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(args: &[&str]) -> (Child, SocketAddr) {
    start_on("tcp", args)
}

/// Starts echo with `args` and reads the address from `listening on TRANSPORT ADDR`.
fn start_on(transport: &str, args: &[&str]) -> (Child, SocketAddr) {
    let (child, listening) = start_listening(transport, args);
    let addr = listening
        .parse()
        .unwrap_or_else(|_| panic!("not a socket address: {listening:?}"));
    (child, addr)
}

/// Starts echo with `args`; returns what follows `listening on TRANSPORT ` on its first
/// line.
fn start_listening(transport: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(support::example("echo"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn echo");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let listening = first
        .strip_prefix(&format!("listening on {transport} "))
        .map(|rest| rest.trim_end().to_owned())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    (child, listening)
}

/// Signals `name`, checks that the server closes each of `streams` cleanly (end of
/// stream, nothing more) and lets go of them as a client would, and returns the exit
/// code. A client that kept its end open would hold the server's lingering close for
/// its whole bound (5 s).
fn stop<S: Read>(mut child: Child, name: &str, streams: Vec<S>) -> Option<i32> {
    support::signal(child.id(), name);
    for mut stream in streams {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"", "nothing after the last echo");
    }
    support::wait_exit(&mut child)
}

#[test]
fn echoes_with_the_chosen_framer_and_exits_0_on_sigterm() {
    let (child, addr) = start(&["--listen", "127.0.0.1:0", "--framer", "length-u16"]);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(b"\x00\x05hello\x00\x00\x00\x02hi")
        .unwrap();
    let mut echoed = [0u8; 13];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"\x00\x05hello\x00\x00\x00\x02hi");
    assert_eq!(stop(child, "-TERM", vec![stream]), Some(0));
}

#[test]
fn line_is_the_default_framer_and_sigint_exits_0() {
    let (mut child, addr) = start(&["--listen", "127.0.0.1:0", "--stats"]);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(b"ping\r\n").unwrap();
    let mut echoed = [0u8; 6];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping\r\n");
    // The stats line comes once a second on stderr.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("open=") && line.contains(" frames_in=1 "),
        "{line:?}"
    );
    // Nothing changes for more than a second: no line. The next one comes with the
    // next frame.
    std::thread::sleep(Duration::from_millis(1500));
    exchange(&mut stream, b"pong\r\n");
    let mut next = String::new();
    stderr.read_line(&mut next).unwrap();
    assert!(next.contains(" frames_in=2 "), "{next:?} after {line:?}");
    assert_eq!(stop(child, "-INT", vec![stream]), Some(0));
}

use crate::support::exchange;

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// `--global-limit 1`: one permit for every connection, held only with a frame in
/// hand, so an idle connection does not lock the next one out.
#[test]
fn a_global_limit_of_one_serves_every_connection_in_turn() {
    for extra in [&[][..], &["--tower"][..]] {
        let mut args = vec!["--listen", "127.0.0.1:0", "--global-limit", "1"];
        args.extend_from_slice(extra);
        let (child, addr) = start(&args);
        let mut first = connect(addr);
        exchange(&mut first, b"one\r\n");
        let mut second = connect(addr);
        exchange(&mut second, b"two\r\n");
        exchange(&mut first, b"three\r\n");
        assert_eq!(stop(child, "-TERM", vec![first, second]), Some(0));
    }
}

#[test]
fn timeout_and_tower_flags_echo_as_before() {
    for args in [
        &["--timeout", "30"][..],
        &["--tower", "--timeout", "30"][..],
    ] {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let (child, addr) = start(&all);
        let mut stream = connect(addr);
        exchange(&mut stream, b"hello\r\nworld\r\n");
        assert_eq!(stop(child, "-TERM", vec![stream]), Some(0));
    }
}

#[test]
fn unknown_framer_is_a_usage_error() {
    let output = Command::new(support::example("echo"))
        .args(["--framer", "morse"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown framer"));
}

#[test]
fn udp_transport_echoes_datagrams_and_reports_peers() {
    let (mut child, addr) = start_on(
        "udp",
        &[
            "--transport",
            "udp",
            "--listen",
            "127.0.0.1:0",
            "--stats",
            "--max-peers",
            "10",
            "--idle-timeout",
            "30",
        ],
    );
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    socket.send_to(b"a datagram", addr).unwrap();
    let mut buf = [0u8; 64];
    let (len, _) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"a datagram");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        stderr.read_line(&mut line).unwrap();
        if line.contains(" peers=1 ") {
            break;
        }
    }
    assert!(
        line.contains(" peers=1 ")
            && line.contains(" dropped_table_full=0")
            && line.contains(" closed_idle=0"),
        "{line:?}"
    );
    support::signal(child.id(), "-TERM");
    assert_eq!(support::wait_exit(&mut child), Some(0));
}

#[cfg(unix)]
#[test]
fn unix_transport_echoes_on_a_socket_path() {
    let path =
        std::env::temp_dir().join(format!("tendril-echo-example-{}.sock", std::process::id()));
    let path_text = path.to_str().unwrap();
    let (child, listening) =
        start_listening("unix", &["--transport", "unix", "--listen", path_text]);
    assert_eq!(listening, path_text);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(b"unix line\r\n").unwrap();
    let mut echoed = [0u8; 11];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"unix line\r\n");
    assert_eq!(stop(child, "-TERM", vec![stream]), Some(0));
    assert!(!path.exists(), "the socket file is removed at exit");
}

/// A failure names the address and its cause, once.
#[test]
#[cfg(target_os = "linux")]
fn a_taken_address_is_reported_with_its_cause() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(support::example("echo"))
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        format!("echo: cannot listen on tcp {addr}: Address already in use (os error 98)\n")
    );
}

/// A connection closed by a limit is one line on stderr at the default log level,
/// naming the peer and the reason; an ordinary close is none.
#[test]
fn a_close_by_a_limit_is_logged_at_the_default_level() {
    let (mut child, addr) = start(&["--listen", "127.0.0.1:0"]);
    let mut stderr = child.stderr.take().unwrap();
    let mut ordinary = TcpStream::connect(addr).unwrap();
    ordinary
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    ordinary.write_all(b"fine\r\n").unwrap();
    let mut echoed = [0u8; 6];
    ordinary.read_exact(&mut echoed).unwrap();
    drop(ordinary);
    let mut endless = TcpStream::connect(addr).unwrap();
    endless
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let peer = endless.local_addr().unwrap();
    let _ = endless.write_all(&vec![b'x'; 100_000]);
    let mut rest = Vec::new();
    let _ = endless.read_to_end(&mut rest);
    // Gone from this side too, so the server's lingering close ends at once.
    drop(endless);
    assert_eq!(stop(child, "-TERM", Vec::<TcpStream>::new()), Some(0));
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains(&format!(
            " INFO tendril_net::manager::engine::spawn: connection closed by a limit \
             remote={peer} id=2 reason=framing error: line longer than 65536 bytes"
        )),
        "{log}"
    );
}
