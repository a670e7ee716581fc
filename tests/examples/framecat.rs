//! The `framecat` example's command-line contract, run as a real process.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use tendril_net::framer::NAMES;

use crate::support;

fn framecat() -> PathBuf {
    support::example("framecat")
}

fn run(from: &str, to: &str, input: &[u8]) -> Output {
    let mut child = Command::new(framecat())
        .args(["--from", from, "--to", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn framecat");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("framecat output");
    writer.join().unwrap();
    output
}

#[test]
fn lines_to_hex_and_back() {
    let out = run("line", "hex", b"hello\r\n\r\nworld\r\n");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"68656c6c6f\n\n776f726c64\n");
    let back = run("hex", "line-lf", &out.stdout);
    assert_eq!(back.stdout, b"hello\n\nworld\n");
}

#[test]
fn every_framer_round_trips_through_every_other() {
    // Every named framer but those whose frames cannot hold these: identity (frame
    // boundaries are lost), nul (frames hold NUL bytes) and dot (bodies end in CRLF).
    let names = NAMES
        .iter()
        .copied()
        .filter(|name| !["identity", "nul", "dot"].contains(name))
        .chain(["hex"]);
    let frames_hex = b"00\n\nffffffff00fe\n68690d\n0000000000\n";
    for name in names {
        let encoded = run("hex", name, frames_hex);
        assert!(
            encoded.status.success(),
            "hex -> {name}: {}",
            String::from_utf8_lossy(&encoded.stderr)
        );
        let back = run(name, "hex", &encoded.stdout);
        assert!(
            back.status.success(),
            "{name} -> hex: {}",
            String::from_utf8_lossy(&back.stderr)
        );
        assert_eq!(back.stdout, frames_hex, "{name}");
    }
}

#[test]
fn framing_error_exits_1_after_writing_earlier_frames() {
    let out = run("netstring", "line", b"5:hello,2:abc,");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"hello\r\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`netstring`"), "{stderr}");
    assert!(stderr.contains("byte offset 8"), "{stderr}");
    assert!(stderr.contains("malformed netstring"), "{stderr}");
}

#[test]
fn input_ending_inside_a_frame_is_an_error() {
    let out = run("length-u16", "hex", b"\x00\x01a\x00\x05abc");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"61\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("byte offset 3") && stderr.contains("inside a frame"),
        "{stderr}"
    );
}

#[test]
fn encoding_error_names_the_target_framer() {
    let out = run("hex", "line", b"610a62\n");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`line`") && stderr.contains("line feed"),
        "{stderr}"
    );
}

#[test]
fn unknown_names_are_usage_errors() {
    let out = run("nope", "hex", b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names:"));
}
