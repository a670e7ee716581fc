//! A burst from util-linux `logger --udp` (2,000 syslog lines, sent as fast as it
//! can) into `echo --transport udp` with default settings: every line arrives, and the
//! `--stats` line says so (no drop of any kind). Skipped where `logger` is missing,
//! unless `TENDRIL_REQUIRE_TOOLS` is set.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;

#[test]
fn a_burst_of_2000_syslog_lines_from_logger_arrives_whole() {
    if !support::have_tool("logger", &["--version"]) {
        return;
    }
    let mut child = Command::new(support::example("echo"))
        .args(["--transport", "udp", "--listen", "127.0.0.1:0", "--stats"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let _child = support::Killed(child);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr: std::net::SocketAddr = first
        .trim_end()
        .strip_prefix("listening on udp ")
        .unwrap()
        .parse()
        .unwrap();
    // The lines on logger's standard input: one datagram each.
    let mut logger = Command::new("logger")
        .args([
            "--udp",
            "--server",
            "127.0.0.1",
            "--port",
            &addr.port().to_string(),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = logger.stdin.take().unwrap();
    for i in 0..2000 {
        writeln!(input, "burst line {i}").unwrap();
    }
    drop(input);
    assert!(logger.wait().unwrap().success(), "logger failed");
    // The stats line, printed once a second when it changed, until it counts all
    // (read on a thread, so that every wait is bounded).
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while let Ok(line) = seen.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains(" frames_in=2000 ") {
            for drop in [
                "dropped_queue_full=0",
                "dropped_table_full=0",
                "dropped_kernel=0",
            ] {
                assert!(line.contains(drop), "{line}");
            }
            return;
        }
        last = line;
    }
    panic!("not every line arrived within 20 s: {last}");
}
