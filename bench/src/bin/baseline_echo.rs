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

use futures_util::StreamExt;
use tendril_bench::{baseline, Lines};
use tokio_util::codec::{BytesCodec, FramedRead, FramedWrite};

fn main() {
    baseline::serve_tcp(|stream| async move {
        let (read, write) = stream.into_split();
        let _ = FramedRead::new(read, Lines::default())
            .forward(FramedWrite::new(write, BytesCodec::new()))
            .await;
    });
}
