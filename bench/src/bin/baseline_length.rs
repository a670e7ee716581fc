//! baseline_length: the hand-written tokio + tokio-util echo of length-prefixed frames
//! that the echo benchmark's large-frame section compares tendril-net against.
//!
//! ```text
//! baseline_length [ADDR]    (default 127.0.0.1:0; prints `listening on tcp ADDR`)
//! ```
//!
//! What one writes by hand: a multi-thread runtime with 2 workers, `set_nodelay(true)`,
//! `TcpStream::into_split`, then `FramedRead::new(read_half, LengthDelimitedCodec)`
//! (4-byte big-endian length, 8 MiB at most) `.forward(FramedWrite::new(write_half,
//! LengthDelimitedCodec))`, each frame frozen on the way.

use std::io::Write;

use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

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
                let frames = FramedRead::new(read, LengthDelimitedCodec::new())
                    .map(|frame| frame.map(|frame| frame.freeze()));
                let _ = frames
                    .forward(FramedWrite::new(write, LengthDelimitedCodec::new()))
                    .await;
            });
        }
    });
}
