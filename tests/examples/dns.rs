//! The DNS example served over UDP and TCP, queried by a test client, and the
//! dns_client example against it.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    udp: SocketAddr,
    tcp: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> Server {
    let mut child = Command::new(support::example("dns_server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--record",
            "example.test=192.0.2.7",
            "--record",
            "Mixed.Case=192.0.2.8",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn dns_server");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut addr = |prefix: &str| {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.strip_prefix(prefix)
            .and_then(|rest| rest.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
    };
    let udp = addr("listening on udp ");
    let tcp = addr("listening on tcp ");
    assert_eq!(udp, tcp, "same port for both transports");
    Server { child, udp, tcp }
}

/// A query: ID, flags (opcode, RD), one question, and optionally an EDNS OPT record.
fn query(id: u16, opcode: u8, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let flags = (u16::from(opcode) << 11) | 0x0100;
    let mut msg = Vec::new();
    for word in [id, flags, 1, 0, 0, u16::from(edns)] {
        msg.extend_from_slice(&word.to_be_bytes());
    }
    for label in name.split('.') {
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        // Root name, type OPT, UDP size 1232, no extended flags, no options.
        msg.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    }
    msg
}

fn udp_ask(server: &Server, msg: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    socket.send_to(msg, server.udp).unwrap();
    let mut buf = [0u8; 512];
    socket
        .recv_from(&mut buf)
        .ok()
        .map(|(len, _)| buf[..len].to_vec())
}

fn rcode(reply: &[u8]) -> u8 {
    reply[3] & 0xF
}

fn ancount(reply: &[u8]) -> u16 {
    u16::from_be_bytes([reply[6], reply[7]])
}

#[test]
fn answers_over_udp() {
    let server = start();
    let reply = udp_ask(&server, &query(0x1234, 0, "example.test", 1, false)).unwrap();
    assert_eq!(&reply[..2], [0x12, 0x34], "the ID is echoed");
    assert_eq!(reply[2] & 0x80, 0x80, "a response");
    assert_eq!(reply[2] & 0x04, 0x04, "authoritative");
    assert_eq!((rcode(&reply), ancount(&reply)), (0, 1));
    assert_eq!(&reply[reply.len() - 4..], [192, 0, 2, 7]);
    assert_eq!(
        &reply[reply.len() - 10..reply.len() - 6],
        60u32.to_be_bytes(),
        "TTL 60"
    );

    let mixed = udp_ask(&server, &query(1, 0, "mIXED.case", 1, true)).unwrap();
    assert_eq!(
        (rcode(&mixed), ancount(&mixed)),
        (0, 1),
        "names are case-insensitive, EDNS tolerated"
    );
    let aaaa = udp_ask(&server, &query(2, 0, "example.test", 28, false)).unwrap();
    assert_eq!((rcode(&aaaa), ancount(&aaaa)), (0, 0), "NOERROR, no answer");
    let unknown = udp_ask(&server, &query(3, 0, "nope.test", 1, false)).unwrap();
    assert_eq!(rcode(&unknown), 3, "NXDOMAIN");
    let status = udp_ask(&server, &query(4, 2, "example.test", 1, false)).unwrap();
    assert_eq!(rcode(&status), 4, "NOTIMP");
}

#[test]
fn malformed_messages() {
    let server = start();
    // A name whose compression pointer points at itself: FORMERR, not a loop.
    let mut looped = query(5, 0, "x", 1, false);
    looped.truncate(12);
    looped.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    assert_eq!(rcode(&udp_ask(&server, &looped).unwrap()), 1);
    // A truncated question: FORMERR.
    let truncated = &query(6, 0, "example.test", 1, false)[..16];
    assert_eq!(rcode(&udp_ask(&server, truncated).unwrap()), 1);
    // Not even a header: no reply; the server still answers afterwards.
    assert!(udp_ask(&server, b"\x01\x02").is_none());
    assert!(udp_ask(&server, &query(7, 0, "example.test", 1, false)).is_some());
}

/// Writes `queries` (ID, name) pipelined on one TCP connection.
fn tcp_pipeline(server: &Server, queries: &[(u16, &str)]) -> TcpStream {
    let mut stream = TcpStream::connect(server.tcp).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut wire = Vec::new();
    for &(id, name) in queries {
        let msg = query(id, 0, name, 1, false);
        wire.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        wire.extend_from_slice(&msg);
    }
    stream.write_all(&wire).unwrap();
    stream
}

fn tcp_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply).unwrap();
    reply
}

#[test]
fn several_queries_on_one_tcp_connection_are_each_answered() {
    let server = start();
    let queries = [
        (10u16, "example.test"),
        (11, "nope.test"),
        (12, "mixed.case"),
    ];
    let mut stream = tcp_pipeline(&server, &queries);
    let mut rcodes = std::collections::HashMap::new();
    for _ in 0..queries.len() {
        let reply = tcp_reply(&mut stream);
        rcodes.insert(u16::from_be_bytes([reply[0], reply[1]]), rcode(&reply));
    }
    assert_eq!(rcodes, [(10, 0), (11, 3), (12, 0)].into_iter().collect());
}

/// RFC 7766: a slow answer does not hold back the answers pipelined after it.
#[test]
fn tcp_answers_come_in_completion_order() {
    let server = start_with(&["--delay", "example.test=2000"]);
    let mut stream = tcp_pipeline(&server, &[(20u16, "example.test"), (21, "mixed.case")]);
    let first = tcp_reply(&mut stream);
    assert_eq!(
        u16::from_be_bytes([first[0], first[1]]),
        21,
        "the fast answer first"
    );
    let second = tcp_reply(&mut stream);
    assert_eq!(u16::from_be_bytes([second[0], second[1]]), 20);
    assert_eq!(ancount(&second), 1);
}

/// Runs the client example asking for `example.test` with `args`: it succeeds and
/// prints the answer `answers` times.
fn client_answers(args: &[&str], answers: usize) {
    let output = Command::new(support::example("dns_client"))
        .arg("example.test")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "example.test A 192.0.2.7\n".repeat(answers),
        "{args:?}"
    );
}

#[test]
fn the_client_example_over_both_transports() {
    let server = start();
    let addr = server.udp.to_string();
    for extra in [&[][..], &["--tcp"][..]] {
        client_answers(&[&["--server", addr.as_str()][..], extra].concat(), 1);
    }
    // Several queries in flight at once over the multiplexed client.
    for extra in [&[][..], &["--tcp"][..]] {
        let args = [&["--server", addr.as_str(), "--parallel", "5"][..], extra].concat();
        client_answers(&args, 5);
    }
    // No server there: a clear message and status 1 after 2 seconds.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let output = Command::new(support::example("dns_client"))
        .args(["example.test", "--server", &closed])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no answer"));
}

/// A standard tool accepts the answers over both transports (skipped where `dig` is
/// not installed; `.ci/run` installs it).
#[test]
fn dig_accepts_the_answers() {
    if !support::have_tool("dig", &["-v"]) {
        return;
    }
    let server = start();
    let port = server.udp.port().to_string();
    for transport in ["+notcp", "+tcp"] {
        let output = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port,
                transport,
                "+time=3",
                "+tries=1",
                "example.test",
                "A",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("status: NOERROR"), "{transport}: {text}");
        assert!(text.contains("flags: qr aa rd;"), "{transport}: {text}");
        assert!(
            text.lines()
                .any(|line| line.starts_with("example.test.") && line.ends_with("192.0.2.7")),
            "{transport}: {text}"
        );
    }
}

/// The server with DNS over TLS and over QUIC too, on ports of their own, with a
/// certificate for `localhost` written to a fresh directory: the server, its TLS and
/// QUIC addresses, and the certificate file (for a client to trust).
fn start_secure() -> (Server, SocketAddr, SocketAddr, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "tendril-dns-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, _) = support::certificate_files(&dir);
    let mut child = Command::new(support::example("dns_server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--record",
            "example.test=192.0.2.7",
        ])
        .args(["--tls", "127.0.0.1:0", "--quic", "127.0.0.1:0"])
        .args(["--tls-cert", &cert, "--tls-key", &key])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn dns_server");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut addr = |prefix: &str| -> SocketAddr {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.strip_prefix(prefix)
            .and_then(|rest| rest.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
    };
    let udp = addr("listening on udp ");
    let tcp = addr("listening on tcp ");
    let tls = addr("listening on tls ");
    let quic = addr("listening on quic ");
    (Server { child, udp, tcp }, tls, quic, cert, dir)
}

/// kdig (Knot DNS) over TLS and over QUIC, and dig over TLS, get the answers (skipped
/// where the tools are not installed; `.ci/run` installs them).
#[test]
fn kdig_and_dig_ask_over_tls_and_quic() {
    if !support::have_tool("kdig", &["--version"]) || !support::have_tool("dig", &["-v"]) {
        return;
    }
    let (_server, tls, quic, _cert, dir) = start_secure();
    let asks = [
        ("kdig", "+tls", tls),
        ("kdig", "+quic", quic),
        ("dig", "+tls", tls),
    ];
    for (tool, transport, addr) in asks {
        let port = addr.port().to_string();
        // Each tool's own spelling of "3 s, one try".
        let bounded: &[&str] = match tool {
            "kdig" => &["+timeout=3", "+retry=0"],
            _ => &["+time=3", "+tries=1"],
        };
        let output = Command::new(tool)
            .args(["@127.0.0.1", "-p", &port, transport])
            .args(bounded)
            .args(["example.test", "A"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("NOERROR"), "{tool} {transport}: {text}");
        assert!(
            text.lines()
                .any(|line| line.starts_with("example.test.") && line.ends_with("192.0.2.7")),
            "{tool} {transport}: {text}"
        );
        if transport == "+quic" {
            // RFC 9250 §4.2.1: the message ID is 0 on the wire.
            assert!(text.contains("id: 0"), "{text}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The client example over TLS (the multiplexed client) and over QUIC (a stream per
/// query), several queries at once.
#[test]
fn the_client_example_over_tls_and_quic() {
    let (_server, tls, quic, cert, dir) = start_secure();
    for (flag, addr) in [("--tls", tls), ("--quic", quic)] {
        let addr = addr.to_string();
        client_answers(
            &[
                "--server",
                &addr,
                flag,
                "--tls-ca",
                &cert,
                "--parallel",
                "5",
            ],
            5,
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
