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
