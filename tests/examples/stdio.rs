//! The `stdio_transport` example, a plug-in transport written against the public API
//! only, run as a process: frames piped in are answered on stdout, the registry finds
//! its connection, and the end of stdin closes it as ended by the peer.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support;

/// Runs the example with `args`, writes `input` to its stdin and closes it; its output,
/// bounded in time.
fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(support::example("stdio_transport"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stdio_transport");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).expect("write stdin");
        // Dropped here: the example sees the end of its input.
    });
    let deadline = Instant::now() + support::LIMIT;
    while child.try_wait().expect("poll the child").is_none() {
        assert!(Instant::now() < deadline, "stdio_transport did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().expect("writer");
    let mut out = Output {
        status: child.wait().expect("exit status"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out.stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut out.stderr)
        .unwrap();
    out
}

#[test]
fn frames_in_are_answered_and_the_end_of_input_closes_as_the_peers() {
    let out = run(&[], b"hello\nworld\n\nlast\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 hello\n2 world\n3 \n4 last\n"
    );
    assert!(stderr.contains("found by find_tendril"), "{stderr}");
    assert!(stderr.contains("stdio: closed by the peer;"), "{stderr}");
    // The engine's counters, as for any transport.
    assert!(stderr.contains(" frames_in=4 frames_out=4 "), "{stderr}");
    assert!(stderr.contains(" closed_by_peer=1 "), "{stderr}");
}

#[test]
fn any_framer_and_a_framing_error_closes_with_its_reason() {
    // A 2-byte length prefix: "ab", then a frame longer than the input that ends.
    let out = run(&["--framer", "length-u16"], b"\x00\x02ab\x00\x09abc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout, b"\x00\x041 ab");
    assert!(stderr.contains("stdio: framing error"), "{stderr}");
}
