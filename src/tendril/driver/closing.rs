//! How a connection closes once its frame loop stopped: flush what is written, then
//! read and drop late input for a while so the kernel does not reset the connection.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::Duration;

use crate::tendril::io::FrameIo;
use crate::tendril::queue::Signal;
use crate::tendril::traffic::Totals;
use crate::tendril::Shared;

/// Bytes of late input a closing connection reads and discards at most.
const LINGER_DISCARD_LIMIT: usize = 1 << 20;

/// Flushes what is written (for at most `linger`; a manager's "close now" cuts it
/// short), publishes the final traffic, then lingers on a detached task.
pub(super) async fn flush_and_linger<In, Out, T>(
    mut io: T,
    shared: Arc<Shared<In, Out>>,
    linger: Duration,
    read_closed: bool,
    mut totals: Totals,
) where
    T: FrameIo<In, Out>,
{
    let close = poll_fn(|cx| {
        // Only a manager's "close now" interrupts the flush.
        shared.queue.register(cx.waker());
        if shared.queue.signalled() == Signal::Abort {
            return Poll::Ready(Err(()));
        }
        io.poll_close(cx).map_err(|_| ())
    });
    // A peer that does not read cannot hold a closing connection forever.
    let flushed = matches!(tokio::time::timeout(linger, close).await, Ok(Ok(())));
    let (read, written) = io.take_counts();
    totals.bytes_in += read;
    totals.bytes_out += written;
    shared.traffic.store(&totals);
    if flushed && !read_closed {
        // Lingering close, off the connection's books: input the peer sent after we
        // stopped reading would make the kernel reset the connection on close, and a
        // reset can destroy the replies just flushed before the peer reads them. Read
        // and discard until the peer's end of stream, for at most `linger` and
        // `LINGER_DISCARD_LIMIT` bytes.
        tokio::spawn(async move {
            let mut discarded = 0;
            let drain = poll_fn(|cx| {
                while discarded < LINGER_DISCARD_LIMIT {
                    match ready!(io.poll_discard(cx)) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => discarded += n,
                    }
                }
                Poll::Ready(())
            });
            let _ = tokio::time::timeout(linger, drain).await;
        });
    }
}
