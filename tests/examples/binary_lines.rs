//! The `binary_lines` example: a line protocol switching to a chunk framer for a
//! `BINARY n` body and back, run as a real process.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

fn connect() -> (support::Running, TcpStream, BufReader<TcpStream>) {
    let server = support::start_example("binary_lines", &["--listen", "127.0.0.1:0"], "tcp");
    let stream = TcpStream::connect(&server.listening).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (server, stream, reader)
}

fn expect(reader: &mut BufReader<TcpStream>, answers: &[&str]) {
    for want in answers {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, format!("{want}\r\n"));
    }
}

/// Body and the commands around it in one write: nothing is lost at either switch,
/// and line breaks inside the body are data.
#[test]
fn a_body_between_lines_in_one_write() {
    let (_server, mut stream, mut reader) = connect();
    stream
        .write_all(b"ECHO before\r\nBINARY 7\r\nab\r\ncd\nECHO after\r\nBINARY x\r\nNOPE\r\n")
        .unwrap();
    expect(
        &mut reader,
        &[
            "+before",
            "+OK 7 bytes, 2 line breaks",
            "+after",
            "-ERR bad length",
            "-ERR unknown command",
        ],
    );
}

/// `BINARY 0` is answered at once: the client waits for the answer before sending
/// anything else, so the server must not wait for input.
#[test]
fn an_empty_body_is_answered_at_once() {
    let (_server, mut stream, mut reader) = connect();
    stream.write_all(b"BINARY 0\r\n").unwrap();
    expect(&mut reader, &["+OK 0 bytes, 0 line breaks"]);
    stream.write_all(b"ECHO still lines\r\n").unwrap();
    expect(&mut reader, &["+still lines"]);
}

/// A body arriving a byte at a time, in many reads.
#[test]
fn a_body_in_pieces() {
    let (_server, mut stream, mut reader) = connect();
    stream.set_nodelay(true).unwrap();
    stream.write_all(b"BINARY 300\r\n").unwrap();
    let body: Vec<u8> = (0..300u32)
        .map(|i| if i % 30 == 0 { b'\n' } else { b'x' })
        .collect();
    for piece in body.chunks(37) {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
    }
    stream.write_all(b"ECHO done\r\n").unwrap();
    expect(&mut reader, &["+OK 300 bytes, 10 line breaks", "+done"]);
}
