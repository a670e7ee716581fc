//! The `kv_server` and `kv_client` examples' contracts, run as real processes.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

#[test]
fn the_server_speaks_the_protocol() {
    let server = support::start_example("kv_server", &["--listen", "127.0.0.1:0"], "tcp");
    let stream = TcpStream::connect(&server.listening).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    writer
        .write_all(
            b"SET greeting hello world\r\nGET greeting\r\nDEL greeting\r\nDEL greeting\r\n\
              GET greeting\r\nFLY away\r\nSET lonely\r\nGET\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let expected = [
        "OK",
        "VALUE hello world",
        "DELETED",
        "NOT_FOUND",
        "NOT_FOUND",
        "ERROR unknown command",
        "ERROR usage: SET key value",
        "ERROR usage: GET key",
    ];
    for want in expected {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, format!("{want}\r\n"));
    }
}

#[test]
fn the_client_checks_every_answer_and_reports_the_rate() {
    let server = support::start_example("kv_server", &["--listen", "127.0.0.1:0"], "tcp");
    let stdout = support::run_ok(Command::new(support::example("kv_client")).args([
        "--server",
        &server.listening,
        "--requests",
        "3000",
    ]));
    let line = stdout.trim_end();
    assert!(line.starts_with("3000 requests in "), "{line}");
    assert!(line.ends_with(" requests/s)"), "{line}");
    assert_eq!(stdout.lines().count(), 1);
}

#[test]
fn the_client_fails_clearly_without_a_server() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let output = Command::new(support::example("kv_client"))
        .args(["--server", &closed, "--requests", "10"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    #[cfg(target_os = "linux")]
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("kv_client: cannot connect to tcp {closed}: Connection refused (os error 111)\n")
    );
}
