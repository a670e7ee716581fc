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

use futures_util::StreamExt;
use tendril_bench::baseline;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

fn main() {
    baseline::serve_tcp(|stream| async move {
        let (read, write) = stream.into_split();
        let frames = FramedRead::new(read, LengthDelimitedCodec::new())
            .map(|frame| frame.map(|frame| frame.freeze()));
        let _ = frames
            .forward(FramedWrite::new(write, LengthDelimitedCodec::new()))
            .await;
    });
}
