//! The `smtp_server` example driven end to end by a scripted SMTP client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tendril_net::wrap::{tls_client_config, NoWrapper, TlsClientLayer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower::Layer;
use tower::ServiceExt;

use crate::support::{start_example, start_with_certificate, Running, LIMIT};

/// A scratch directory under the target directory, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tendril-smtp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(maildir: &Path, extra: &[&str]) -> Running {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--maildir",
        maildir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    start_example("smtp_server", &args, "tcp")
}

/// The messages delivered, sorted by name (names start with the delivery time).
fn delivered(maildir: &Path) -> Vec<String> {
    let mut entries: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    assert!(
        std::fs::read_dir(maildir.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "nothing left in tmp/"
    );
    entries
        .iter()
        .map(|path| String::from_utf8(std::fs::read(path).unwrap()).unwrap())
        .collect()
}

/// A scripted SMTP client on any stream.
struct Client<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Self {
        Client {
            stream: BufReader::new(stream),
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
        self.stream.get_mut().flush().await.unwrap();
    }

    /// One reply: its code and its lines' text.
    async fn reply(&mut self) -> (u16, Vec<String>) {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(LIMIT, self.stream.read_line(&mut line))
                .await
                .expect("reply timed out")
                .unwrap();
            assert!(read > 0, "connection closed; reply so far {lines:?}");
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            let code = line[..3].parse().expect("reply code");
            let last = line.as_bytes()[3] == b' ';
            lines.push(line[4..line.len() - 2].to_owned());
            if last {
                return (code, lines);
            }
        }
    }

    /// Sends a command and checks the reply's code.
    async fn expect(&mut self, command: &str, code: u16) -> Vec<String> {
        self.write(format!("{command}\r\n").as_bytes()).await;
        let (got, lines) = self.reply().await;
        assert_eq!(got, code, "{command}: {lines:?}");
        lines
    }

    /// Reads to the end of the stream: what the server sent before closing.
    async fn rest(mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(LIMIT, self.stream.read_to_end(&mut rest))
            .await
            .expect("close timed out");
        rest
    }
}

async fn connect(server: &Running) -> Client<TcpStream> {
    let stream = tokio::time::timeout(LIMIT, TcpStream::connect(&server.listening))
        .await
        .unwrap()
        .unwrap();
    let mut client = Client::new(stream);
    let (code, _) = client.reply().await;
    assert_eq!(code, 220, "greeting");
    client
}

async fn send_message<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    from: &str,
    to: &[&str],
    body: &[u8],
) {
    client.expect(&format!("MAIL FROM:<{from}>"), 250).await;
    for rcpt in to {
        client.expect(&format!("RCPT TO:<{rcpt}>"), 250).await;
    }
    client.expect("DATA", 354).await;
    client.write(body).await;
    let (code, lines) = client.reply().await;
    assert_eq!(code, 250, "{lines:?}");
}

#[tokio::test]
async fn a_plain_session_delivers_a_message() {
    let maildir = scratch("plain");
    let server = start(&maildir, &[]);
    let mut client = connect(&server).await;
    client.expect("MAIL FROM:<a@example.org>", 503).await;
    let ehlo = client.expect("EHLO client.example", 250).await;
    assert_eq!(ehlo[0], "localhost greets client.example");
    for extension in ["PIPELINING", "8BITMIME"] {
        assert!(ehlo.contains(&extension.to_owned()), "{ehlo:?}");
    }
    assert!(
        ehlo.iter().any(|line| line.starts_with("SIZE ")),
        "{ehlo:?}"
    );
    assert!(!ehlo.contains(&"STARTTLS".to_owned()), "no TLS configured");
    send_message(
        &mut client,
        "alice@example.org",
        &["bob@example.net"],
        b"Subject: hi\r\n\r\nHello Bob.\r\n.\r\n",
    )
    .await;
    client.expect("QUIT", 221).await;
    assert!(client.rest().await.is_empty());
    assert_eq!(
        delivered(&maildir),
        [
            "Return-Path: <alice@example.org>\r\nX-Envelope-To: <bob@example.net>\r\n\
          Subject: hi\r\n\r\nHello Bob.\r\n"
        ]
    );
}

#[tokio::test]
async fn two_pipelined_messages_with_dot_stuffing_split_across_reads() {
    let maildir = scratch("pipelined");
    let server = start(&maildir, &[]);
    let mut client = connect(&server).await;
    client.expect("HELO client.example", 250).await;
    // PIPELINING: the envelope in one segment, answered in order.
    client
        .write(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n")
        .await;
    for expected in [250, 250, 250, 354] {
        assert_eq!(client.reply().await.0, expected);
    }
    // Dot-stuffed lines, and "\r\n.\r" fragments that must not end the body, written
    // in pieces with the end line itself split.
    let pieces: [&[u8]; 7] = [
        b"Subject: dots\r\n\r\n..leading dot\r\n",
        b"...two dots\r\nnot an end: \r",
        b"\n.\rx\r\n",
        b"a\r\n.",
        b"b\r\nlast line\r\n",
        b".",
        b"\r\n",
    ];
    for piece in pieces {
        client.write(piece).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(client.reply().await.0, 250);
    send_message(&mut client, "", &["d@example.net"], b"second\r\n.\r\n").await;
    client.expect("QUIT", 221).await;
    let messages = delivered(&maildir);
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[0],
        "Return-Path: <a@example.org>\r\nX-Envelope-To: <b@example.net>\r\n\
         X-Envelope-To: <c@example.net>\r\nSubject: dots\r\n\r\n.leading dot\r\n\
         ..two dots\r\nnot an end: \r\n\rx\r\na\r\nb\r\nlast line\r\n"
    );
    assert_eq!(
        messages[1],
        "Return-Path: <>\r\nX-Envelope-To: <d@example.net>\r\nsecond\r\n"
    );
}

#[tokio::test]
async fn errors_are_answered_and_the_session_goes_on() {
    let maildir = scratch("errors");
    let server = start(&maildir, &["--max-size", "100"]);
    let mut client = connect(&server).await;
    client.expect("FROB", 500).await;
    client.expect("EXPN staff", 502).await;
    client.expect("VRFY bob", 252).await;
    client.expect("NOOP", 250).await;
    client.expect("EHLO client.example", 250).await;
    client.expect("RCPT TO:<b@example.net>", 503).await;
    client.expect("DATA", 503).await;
    client
        .expect(&format!("NOOP {}", "x".repeat(2000)), 500)
        .await;
    client
        .expect("MAIL FROM:<a@example.org> SIZE=1000", 552)
        .await;
    client.expect("MAIL FROM:<a@example.org>", 250).await;
    client.expect("MAIL FROM:<a@example.org>", 503).await;
    for i in 0..100 {
        client
            .expect(&format!("RCPT TO:<r{i}@example.net>"), 250)
            .await;
    }
    client
        .expect("RCPT TO:<one-too-many@example.net>", 452)
        .await;
    client.expect("DATA", 354).await;
    let big = format!("{}\r\n.\r\n", "y".repeat(300));
    client.write(big.as_bytes()).await;
    assert_eq!(client.reply().await.0, 552);
    // Back to commands, with a fresh transaction.
    client.expect("RCPT TO:<b@example.net>", 503).await;
    client.expect("RSET", 250).await;
    send_message(
        &mut client,
        "a@example.org",
        &["b@example.net"],
        b"small\r\n.\r\n",
    )
    .await;
    client.expect("QUIT", 221).await;
    assert_eq!(delivered(&maildir).len(), 1);
}

#[tokio::test]
async fn starttls_then_a_message() {
    let dir = scratch("starttls");
    let maildir = dir.join("maildir");
    let (server, _, pem) = start_with_certificate(
        "smtp_server",
        &dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--maildir",
            maildir.to_str().unwrap(),
        ],
    );
    let mut client = connect(&server).await;
    let ehlo = client.expect("EHLO client.example", 250).await;
    assert!(ehlo.contains(&"STARTTLS".to_owned()), "{ehlo:?}");
    client.expect("MAIL FROM:<before@example.org>", 250).await;
    client.expect("STARTTLS", 220).await;
    assert!(client.stream.buffer().is_empty());
    let tcp = client.stream.into_inner();
    let tls = TlsClientLayer::new(tls_client_config(pem.as_bytes()).unwrap(), "localhost")
        .unwrap()
        .layer(NoWrapper)
        .oneshot(tcp)
        .await
        .expect("TLS handshake");
    let mut client = Client::new(tls);
    // RFC 3207: the session starts over; no STARTTLS offered any more.
    client.expect("MAIL FROM:<a@example.org>", 503).await;
    let ehlo = client.expect("EHLO client.example", 250).await;
    assert!(!ehlo.contains(&"STARTTLS".to_owned()), "{ehlo:?}");
    client.expect("STARTTLS", 503).await;
    send_message(
        &mut client,
        "a@example.org",
        &["b@example.net"],
        b"secret\r\n.\r\n",
    )
    .await;
    client.expect("QUIT", 221).await;
    assert_eq!(
        delivered(&maildir),
        ["Return-Path: <a@example.org>\r\nX-Envelope-To: <b@example.net>\r\nsecret\r\n"]
    );
}

#[tokio::test]
async fn a_command_injected_after_starttls_is_refused() {
    let dir = scratch("injection");
    let maildir = dir.join("maildir");
    let server = start(&maildir, &["--tls-self-signed", "--hostname", "mx.test"]);
    let mut client = connect(&server).await;
    let ehlo = client.expect("EHLO client.example", 250).await;
    assert_eq!(ehlo[0], "mx.test greets client.example");
    assert!(ehlo.contains(&"STARTTLS".to_owned()), "{ehlo:?}");
    client
        .write(b"STARTTLS\r\nMAIL FROM:<mallory@example.org>\r\n")
        .await;
    assert_eq!(client.reply().await.0, 220);
    assert!(
        client.rest().await.is_empty(),
        "the injected command is never answered: the connection closes"
    );
}

/// A standard client: Python's smtplib, with STARTTLS (skipped without python3).
#[tokio::test]
async fn python_smtplib_sends_a_message_over_starttls() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("python3 not found: skipped");
        return;
    }
    let maildir = scratch("smtplib");
    let server = start(&maildir, &["--tls-self-signed"]);
    let (host, port) = server.listening.rsplit_once(':').unwrap();
    let script = format!(
        r#"
import smtplib, ssl
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "alice@example.org"
msg["To"] = "bob@example.net"
msg["Subject"] = "from smtplib"
msg.set_content("Hello.\n.leading dot\n")
with smtplib.SMTP("{host}", {port}, timeout=20) as smtp:
    smtp.ehlo()
    assert smtp.has_extn("starttls")
    smtp.starttls(context=ssl._create_unverified_context())
    smtp.ehlo()
    assert not smtp.has_extn("starttls")
    smtp.send_message(msg, to_addrs=["bob@example.net", "carol@example.net"])
"#
    );
    let status = tokio::time::timeout(
        LIMIT,
        tokio::process::Command::new("python3")
            .args(["-c", &script])
            .status(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(status.success());
    let messages = delivered(&maildir);
    assert_eq!(messages.len(), 1);
    assert!(messages[0].starts_with(
        "Return-Path: <alice@example.org>\r\nX-Envelope-To: <bob@example.net>\r\n\
         X-Envelope-To: <carol@example.net>\r\n"
    ));
    assert!(messages[0].contains("Subject: from smtplib\r\n"));
    assert!(
        messages[0].ends_with("Hello.\r\n.leading dot\r\n"),
        "{:?}",
        messages[0]
    );
}
