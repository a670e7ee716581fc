//! baseline_echo: the hand-written tokio + tokio-util line echo server that the echo
//! benchmark compares tendril-net against.
//!
//! ```text
//! baseline_echo [ADDR]    (default 127.0.0.1:0; prints `listening on tcp ADDR`)
//! ```
//!
//! What one writes by hand: a multi-thread runtime with 2 workers, `set_nodelay(true)`,
//! `TcpStream::into_split`, then `FramedRead::new(read_half, Lines).forward(
//! FramedWrite::new(write_half, BytesCodec::new()))`, where `Lines` splits at `\n`
//! keeping the delimiter, with a `memchr` scan that remembers how far it got and an
//! 8 KiB maximum line.

use std::io::Write;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio_util::codec::{BytesCodec, Decoder, FramedRead, FramedWrite};

/// Lines, delimiter kept, at most 8 KiB.
struct Lines {
    scanned: usize,
}

impl Decoder for Lines {
    type Item = Bytes;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, std::io::Error> {
        match memchr::memchr(b'\n', &src[self.scanned..]) {
            Some(at) => {
                let end = self.scanned + at + 1;
                self.scanned = 0;
                Ok(Some(src.split_to(end).freeze()))
            }
            None if src.len() > 8 * 1024 => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line longer than 8 KiB",
            )),
            None => {
                self.scanned = src.len();
                Ok(None)
            }
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(&addr).await.expect("bind");
        println!(
            "listening on tcp {}",
            listener.local_addr().expect("address")
        );
        let _ = std::io::stdout().flush();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let (read, write) = stream.into_split();
                let _ = FramedRead::new(read, Lines { scanned: 0 })
                    .forward(FramedWrite::new(write, BytesCodec::new()))
                    .await;
            });
        }
    });
}
