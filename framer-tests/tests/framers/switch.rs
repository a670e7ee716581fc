use std::fmt;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tendril_net::framer::{ChunkFramer, DotFramer, FramerSwitch, LineError, LineFramer};
use tendril_net::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder, Framed};

use crate::support::split_at;

const SESSION: &[u8] =
    b"EHLO x\r\nMAIL FROM:<a@b>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\nend\r\n.\r\nQUIT\r\n";

fn expected_session() -> Vec<Bytes> {
    [
        "EHLO x",
        "MAIL FROM:<a@b>",
        "DATA",
        "Subject: hi\r\n\r\n.dot\r\nend\r\n",
        "QUIT",
    ]
    .into_iter()
    .map(Bytes::from)
    .collect()
}

/// What an SMTP server does with its framers: after `DATA` the receive side takes
/// the dot-terminated body as one frame, then goes back to lines.
fn on_frame(framers: &mut FramerSwitch, frame: &Bytes, in_body: &mut bool) {
    if *in_body {
        framers.set_recv_framer(LineFramer::new());
        *in_body = false;
    } else if frame == "DATA" {
        framers.set_recv_framer(DotFramer::new());
        *in_body = true;
    }
}

fn run_session(pieces: &[Vec<u8>]) -> Vec<Bytes> {
    let mut framers = FramerSwitch::symmetric(LineFramer::new());
    let mut in_body = false;
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(frame) = framers.decode(&mut buf).unwrap() {
            on_frame(&mut framers, &frame, &mut in_body);
            frames.push(frame);
        }
    }
    assert!(framers.decode_eof(&mut buf).unwrap().is_none());
    frames
}

#[test]
fn smtp_lines_body_lines_in_one_buffer_at_every_split() {
    let expected = expected_session();
    assert_eq!(run_session(&[SESSION.to_vec()]), expected);
    assert_eq!(
        run_session(&split_at(SESSION, &(0..SESSION.len()).collect::<Vec<_>>())),
        expected
    );
    for a in 0..=SESSION.len() {
        assert_eq!(
            run_session(&split_at(SESSION, &[a])),
            expected,
            "split at {a}"
        );
        for b in a..=SESSION.len() {
            assert_eq!(
                run_session(&split_at(SESSION, &[a, b])),
                expected,
                "split at {a}, {b}"
            );
        }
    }
}

#[test]
fn chunk_body_then_lines_again() {
    let wire = b"BDAT 5\r\nhelloQUIT\r\n";
    for split in 0..=wire.len() {
        let mut framers = FramerSwitch::symmetric(LineFramer::new());
        let mut buf = BytesMut::new();
        let (mut body, mut body_left, mut lines) = (Vec::new(), 0usize, Vec::new());
        for piece in split_at(wire, &[split]) {
            buf.extend_from_slice(&piece);
            while let Some(frame) = framers.decode(&mut buf).unwrap() {
                if body_left > 0 {
                    body_left -= frame.len();
                    body.extend_from_slice(&frame);
                    if body_left == 0 {
                        framers.set_recv_framer(LineFramer::new());
                    }
                } else if let Some(n) = frame.strip_prefix(b"BDAT ") {
                    body_left = std::str::from_utf8(n).unwrap().parse().unwrap();
                    framers.set_recv_framer(ChunkFramer::new(body_left as u64));
                } else {
                    lines.push(frame);
                }
            }
        }
        assert_eq!(body, b"hello", "split at {split}");
        assert_eq!(lines, ["QUIT"], "split at {split}");
    }
}

#[test]
fn send_and_receive_framers_are_independent() {
    let mut framers = FramerSwitch::new(LineFramer::new(), LineFramer::lf());
    let mut out = BytesMut::new();
    framers.encode(Bytes::from("250 OK"), &mut out).unwrap();
    framers.set_send_framer(LineFramer::new());
    framers.encode(Bytes::from("221 Bye"), &mut out).unwrap();
    assert_eq!(&out[..], b"250 OK\n221 Bye\r\n");
    let mut buf = BytesMut::from("a\r\n");
    assert_eq!(framers.decode(&mut buf).unwrap().unwrap(), "a");
}

#[test]
fn framer_errors_become_framing_errors_with_their_cause() {
    let mut framers = FramerSwitch::symmetric(LineFramer::new().max_frame_length(2));
    let err: Error = framers.decode(&mut BytesMut::from("long")).unwrap_err();
    assert!(err.is_framing());
    assert!(!err.is_io());
    assert!(matches!(
        err.framer_error::<LineError>(),
        Some(LineError::TooLong { limit: 2 })
    ));
    let err = framers
        .encode(Bytes::from("\n"), &mut BytesMut::new())
        .unwrap_err();
    assert!(matches!(
        err.framer_error::<LineError>(),
        Some(LineError::NewlineInFrame)
    ));
}

/// A user codec with its own frame type: `key=value` lines parsed into a pair.
#[derive(Debug, Clone)]
struct KeyValue;

#[derive(Debug)]
struct NoEquals;

impl fmt::Display for NoEquals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("line has no '='")
    }
}

impl std::error::Error for NoEquals {}

impl From<std::io::Error> for NoEquals {
    fn from(_: std::io::Error) -> Self {
        NoEquals
    }
}

impl Decoder for KeyValue {
    type Item = (String, String);
    type Error = NoEquals;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<(String, String)>, NoEquals> {
        let Some(line) = LineFramer::new().decode(src).map_err(|_| NoEquals)? else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&line);
        let (k, v) = line.split_once('=').ok_or(NoEquals)?;
        Ok(Some((k.to_owned(), v.to_owned())))
    }
}

#[test]
fn user_codecs_with_their_own_frame_types_fit() {
    let mut framers: FramerSwitch<(String, String), String> =
        FramerSwitch::with_framers(KeyValue, LineFramer::new());
    let mut buf = BytesMut::from("a=1\r\nbroken\r\n");
    assert_eq!(
        framers.decode(&mut buf).unwrap().unwrap(),
        ("a".into(), "1".into())
    );
    let err = framers.decode(&mut buf).unwrap_err();
    assert!(err.is_framing());
    assert!(err.framer_error::<NoEquals>().is_some());
    let mut out = BytesMut::new();
    framers.encode("ok".to_owned(), &mut out).unwrap();
    assert_eq!(&out[..], b"ok\r\n");
}

/// Over a real `Framed` transport, switching the receive framer between reads of a
/// pipelined stream loses no bytes, and replies go out through the send framer.
#[tokio::test]
async fn framed_transport_switches_without_losing_bytes() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut framed = Framed::new(server, FramerSwitch::symmetric(LineFramer::new()));
    let writer = tokio::spawn(async move {
        for piece in SESSION.chunks(7) {
            client.write_all(piece).await.unwrap();
        }
        client.shutdown().await.unwrap();
        let mut replies = Vec::new();
        client.read_to_end(&mut replies).await.unwrap();
        replies
    });
    let mut frames = Vec::new();
    let mut in_body = false;
    while let Some(frame) = framed.next().await {
        let frame = frame.unwrap();
        on_frame(framed.codec_mut(), &frame, &mut in_body);
        let reply = Bytes::from(format!("250 got {}", frame.len()));
        framed.feed(reply).await.unwrap();
        frames.push(frame);
    }
    framed.close().await.unwrap();
    assert_eq!(frames, expected_session());
    let replies = writer.await.unwrap();
    assert_eq!(
        replies,
        b"250 got 6\r\n250 got 15\r\n250 got 4\r\n250 got 26\r\n250 got 4\r\n"
    );
}
