//! How a connection closes once its frame loop stopped: flush what is written, then
//! read and drop late input for a while so the kernel does not reset the connection.

use std::future::poll_fn;
use std::task::{ready, Poll};

use tower::Service;

use super::engine::Driver;
use crate::app::IntoFrames;
use crate::error::BoxError;
use crate::tendril::io::FrameIo;
use crate::tendril::queue::Signal;

/// Bytes of late input a closing connection reads and discards at most.
const LINGER_DISCARD_LIMIT: usize = 1 << 20;

impl<S, In, Out, T> Driver<S, In, Out, T>
where
    S: Service<In>,
    S::Response: IntoFrames<Out>,
    S::Error: Into<BoxError>,
    In: Send + 'static,
    Out: Send + 'static,
    T: FrameIo<In, Out>,
{
    /// Flushes what is written (for at most `linger`; a manager's "close now" cuts it
    /// short), then lingers on a detached task.
    pub(super) async fn flush_and_linger(mut self) {
        let linger = self.config.linger;
        let io = &mut self.io;
        let shared = &self.shared;
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
        self.publish_counts();
        if flushed && !self.read_closed {
            // Lingering close, off the connection's books: input the peer sent
            // after we stopped reading would make the kernel reset the connection
            // on close, and a reset can destroy the replies just flushed before the
            // peer reads them. Read and discard until the peer's end of stream,
            // for at most `linger` and `LINGER_DISCARD_LIMIT` bytes.
            let mut io = self.io;
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
}
