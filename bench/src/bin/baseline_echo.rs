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

use futures_util::StreamExt;
use tendril_bench::Lines;
use tokio::net::TcpListener;
use tokio_util::codec::{BytesCodec, FramedRead, FramedWrite};

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
                let _ = FramedRead::new(read, Lines::default())
                    .forward(FramedWrite::new(write, BytesCodec::new()))
                    .await;
            });
        }
    });
}
