//! The `chat` example: frames pushed to other connections, leaving on close, run as a
//! real process.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

struct Member {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    name: String,
}

impl Member {
    /// Connects and reads the welcome, which names this member as the others see it.
    fn join(addr: &str) -> Member {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let name = stream.local_addr().unwrap().to_string();
        let mut member = Member {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
            name,
        };
        let welcome = member.line();
        assert_eq!(welcome, format!("* welcome {}", member.name));
        member
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.strip_suffix("\r\n")
            .unwrap_or_else(|| panic!("not a CRLF line: {line:?}"))
            .to_owned()
    }

    fn say(&mut self, text: &str) {
        self.stream
            .write_all(format!("{text}\r\n").as_bytes())
            .unwrap();
    }
}

#[test]
fn what_one_says_the_others_hear_and_leaving_is_announced() {
    let server = support::start_example("chat", &["--listen", "127.0.0.1:0"], "tcp");
    let mut alice = Member::join(&server.listening);
    let mut bob = Member::join(&server.listening);
    assert_eq!(alice.line(), format!("* {} joined", bob.name));
    let mut carol = Member::join(&server.listening);
    assert_eq!(alice.line(), format!("* {} joined", carol.name));
    assert_eq!(bob.line(), format!("* {} joined", carol.name));

    alice.say("hello");
    assert_eq!(bob.line(), format!("{}: hello", alice.name));
    assert_eq!(carol.line(), format!("{}: hello", alice.name));
    bob.say("hi");
    assert_eq!(alice.line(), format!("{}: hi", bob.name));
    assert_eq!(carol.line(), format!("{}: hi", bob.name));

    // Alice heard nothing of her own: the next thing she hears is Carol leaving.
    let carol_name = carol.name.clone();
    drop(carol);
    assert_eq!(alice.line(), format!("* {carol_name} left"));
    assert_eq!(bob.line(), format!("* {carol_name} left"));
}

/// One write of 300 lines reaches each of 20 readers whole and in order, and none is
/// taken for slow; a reader that stops reading is still closed.
#[test]
fn a_burst_reaches_every_reader_and_a_stopped_reader_is_closed() {
    let server = support::start_example("chat", &["--listen", "127.0.0.1:0"], "tcp");
    let mut sender = Member::join(&server.listening);
    let mut readers: Vec<Member> = (0..20).map(|_| Member::join(&server.listening)).collect();
    let burst: String = (0..300).map(|i| format!("line {i}\r\n")).collect();
    sender.stream.write_all(burst.as_bytes()).unwrap();
    sender.say("done");
    let from = sender.name.clone();
    for reader in &mut readers {
        // Join announcements of the readers after it come first.
        let mut line = reader.line();
        while line.starts_with("* ") {
            line = reader.line();
        }
        for i in 0..300 {
            assert_eq!(line, format!("{from}: line {i}"));
            line = reader.line();
        }
        assert_eq!(
            line,
            format!("{from}: done"),
            "still connected after the burst"
        );
    }
    drop(readers);
    // Their departures reach the sender (after their joins) before anyone new joins,
    // so the newcomer's first line is its welcome.
    let mut left = 0;
    while left < 20 {
        if sender.line().ends_with(" left") {
            left += 1;
        }
    }

    // A reader that never reads: once its socket buffers and its queue are full, it is
    // closed (the sender's lines are 1000 bytes; 20 MB is more than loopback buffers).
    let stopped = Member::join(&server.listening);
    let line = format!("{}\r\n", "x".repeat(998));
    for _ in 0..20_000 {
        sender.stream.write_all(line.as_bytes()).unwrap();
    }
    let mut stopped_stream = stopped.stream;
    // It reads at last: what was queued for it before it was closed, then the end.
    let mut rest = Vec::new();
    let ended = std::io::Read::read_to_end(&mut stopped_stream, &mut rest);
    assert!(
        ended.is_ok() || ended.is_err_and(|err| err.kind() == std::io::ErrorKind::ConnectionReset),
        "the stopped reader was closed"
    );
    assert!(
        rest.len() < 20_000 * 1000,
        "closed before the end: {} bytes reached it",
        rest.len()
    );
}
