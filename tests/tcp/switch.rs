use bytes::Bytes;
use tendril_net::app::{acceptor_fn, Reply};
use tendril_net::framer::{ChunkFramer, DotFramer, LineFramer};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager, Tendril};
use tower::service_fn;

use crate::support::*;

/// An SMTP-like server: after `DATA` the body is one frame (dot framer), after
/// `BDAT n` the next n bytes arrive as chunk frames; then lines again.
fn start() -> (TcpManager, std::net::SocketAddr) {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                let mut mode = Mode::Lines;
                Ok(service_fn(move |frame: Bytes| {
                    let reply = match mode {
                        Mode::Lines if frame == "DATA" => {
                            tendril.set_recv_framer(DotFramer::new()).map(|_| {
                                mode = Mode::Body;
                                Reply::one(Bytes::from("354 go ahead"))
                            })
                        }
                        Mode::Lines if frame.starts_with(b"BDAT ") => {
                            let n: u64 = std::str::from_utf8(&frame[5..]).unwrap().parse().unwrap();
                            tendril.set_recv_framer(ChunkFramer::new(n)).map(|_| {
                                mode = Mode::Chunk(n);
                                Reply::none()
                            })
                        }
                        Mode::Lines => Ok(Reply::one(Bytes::from(format!(
                            "250 {}",
                            String::from_utf8_lossy(&frame)
                        )))),
                        Mode::Body => tendril.set_recv_framer(LineFramer::new()).map(|_| {
                            mode = Mode::Lines;
                            Reply::one(Bytes::from(format!(
                                "250 body {:?}",
                                String::from_utf8_lossy(&frame)
                            )))
                        }),
                        Mode::Chunk(left) => {
                            let left = left - frame.len() as u64;
                            let chunk =
                                Bytes::from(format!("chunk {:?}", String::from_utf8_lossy(&frame)));
                            if left == 0 {
                                let reply = Reply::many([chunk, Bytes::from("250 chunk done")]);
                                mode = Mode::Lines;
                                tendril.set_recv_framer(LineFramer::new()).map(|_| reply)
                            } else {
                                mode = Mode::Chunk(left);
                                Ok(Reply::one(chunk))
                            }
                        }
                    };
                    async move { reply }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    (manager, addr)
}

#[derive(Clone, Copy)]
enum Mode {
    Lines,
    Body,
    Chunk(u64),
}

#[tokio::test]
async fn switch_with_the_trigger_and_the_data_in_one_segment() {
    let (manager, addr) = start();
    let mut stream = client(
        addr,
        b"HELO x\r\nDATA\r\nSubject: hi\r\n..dot\r\n.\r\nBDAT 5\r\nhelloQUIT\r\n",
    )
    .await;
    let replies = read_frames(&mut stream, "line", 6).await;
    assert_eq!(
        replies,
        [
            "250 HELO x",
            "354 go ahead",
            "250 body \"Subject: hi\\r\\n.dot\\r\\n\"",
            "chunk \"hello\"",
            "250 chunk done",
            "250 QUIT",
        ]
    );
    manager.shutdown();
}

#[tokio::test]
async fn switch_with_the_data_arriving_byte_by_byte() {
    use tokio::io::AsyncWriteExt;
    let (manager, addr) = start();
    let mut stream = client(addr, b"").await;
    for byte in b"DATA\r\nx\r\n.\r\nNOOP\r\n" {
        stream.write_all(&[*byte]).await.unwrap();
    }
    let replies = read_frames(&mut stream, "line", 3).await;
    assert_eq!(
        replies,
        ["354 go ahead", "250 body \"x\\r\\n\"", "250 NOOP"]
    );
    manager.shutdown();
}

/// A framer switch made inside the application's future (not in `call` itself), with
/// no reply, still applies to the very next frame.
#[tokio::test]
async fn switch_made_inside_the_future_applies_to_the_next_frame() {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start(
            acceptor_fn(|tendril: Tendril| -> Result<_, BoxError> {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service_fn(move |frame: Bytes| {
                    let tendril = tendril.clone();
                    async move {
                        tokio::task::yield_now().await;
                        if frame == "CHUNK 3" {
                            tendril.set_recv_framer(ChunkFramer::new(3))?;
                            return Ok::<_, BoxError>(None);
                        }
                        if frame == "abc" {
                            tendril.set_recv_framer(LineFramer::new())?;
                        }
                        Ok(Some(Bytes::from(format!(
                            "got {}",
                            String::from_utf8_lossy(&frame)
                        ))))
                    }
                }))
            }),
            NoWrapper,
        )
        .unwrap();
    let mut stream = client(addr, b"CHUNK 3\r\nabcQUIT\r\n").await;
    assert_eq!(
        read_frames(&mut stream, "line", 2).await,
        ["got abc", "got QUIT"]
    );
    manager.shutdown();
}
