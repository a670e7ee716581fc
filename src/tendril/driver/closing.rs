//! How a connection closes once its frame loop stopped: flush what is written, then
//! read and drop late input for a while so the kernel does not reset the connection.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::Duration;

use crate::tendril::io::FrameIo;
use crate::tendril::queue::Signal;
use crate::tendril::shared::Shared;
use crate::tendril::traffic::Totals;

/// Bytes of late input a closing connection reads and discards at most.
const LINGER_DISCARD_LIMIT: usize = 1 << 20;

/// Flushes what is written (for at most `linger`; a manager's "close now" cuts it
/// short) and publishes the final traffic. True if everything was written.
pub(super) async fn flush<In, Out, T>(
    io: &mut T,
    shared: &Shared<In, Out>,
    linger: Duration,
    mut totals: Totals,
) -> bool
where
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
    (totals.bytes_in, totals.bytes_out) = io.counts();
    shared.traffic.store(&totals);
    flushed
}

/// A closed connection's transport, kept for a lingering close: input the peer sent
/// after we stopped reading would make the kernel reset the connection on close, and a
/// reset can destroy the replies just flushed before the peer reads them.
pub(crate) struct Lingering<T, In, Out> {
    io: T,
    linger: Duration,
    /// For the manager's signals: a full table sheds a lingering connection first, and
    /// a shutdown closes it now.
    shared: Arc<Shared<In, Out>>,
}

impl<T, In, Out> Lingering<T, In, Out>
where
    T: FrameIo<In, Out>,
{
    pub(super) fn new(io: T, linger: Duration, shared: Arc<Shared<In, Out>>) -> Self {
        Lingering { io, linger, shared }
    }

    /// Reads and discards until the peer's end of stream, for at most `linger` and
    /// `LINGER_DISCARD_LIMIT` bytes, or until the manager sheds it or shuts down.
    pub(crate) async fn run(mut self) {
        let mut discarded = 0;
        let io = &mut self.io;
        let shared = &self.shared;
        let drain = poll_fn(|cx| {
            shared.queue.register(cx.waker());
            if shared.queue.signalled() >= Signal::ShedIdle {
                return Poll::Ready(());
            }
            while discarded < LINGER_DISCARD_LIMIT {
                match ready!(io.poll_discard(cx)) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => discarded += n,
                }
            }
            Poll::Ready(())
        });
        let _ = tokio::time::timeout(self.linger, drain).await;
    }
}
