//! Buffers between uses: a small per-thread pool, so that a connection holds no buffer
//! while it is idle and yet does not go to the allocator for every burst of traffic.
//!
//! A connection takes a chunk when data arrives or a reply is encoded and gives it
//! back once it is drained; the pool of each worker thread keeps at most
//! [`POOLED`] chunks, so it is bounded however many connections there are. Only
//! buffers that nothing else references go back (a frame split from a read buffer
//! keeps its allocation alive; that buffer is simply dropped by the connection).

use std::cell::RefCell;

use bytes::BytesMut;

/// The size of a pooled buffer: the most read at once into a fresh buffer, and the
/// write buffer's high-water mark. Twice tokio-util's 8 KiB default: half the system
/// calls for a stream of small frames.
pub(crate) const CHUNK: usize = 16 * 1024;

/// Chunks kept per thread (256 KiB).
const POOLED: usize = 16;

thread_local! {
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least [`CHUNK`] bytes.
#[inline]
pub(crate) fn take() -> BytesMut {
    POOL.with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| BytesMut::with_capacity(CHUNK))
}

/// Gives `buf` back if it is a chunk that nothing else references; drops it otherwise.
#[inline]
pub(crate) fn give(mut buf: BytesMut) {
    if buf.capacity() == 0 {
        return;
    }
    buf.clear();
    // `try_reclaim` succeeds only for a unique buffer, and then restores its whole
    // capacity; a buffer that grew past a chunk is not kept (a read buffer's size
    // tells which frames may be split from it).
    if buf.try_reclaim(CHUNK) && buf.capacity() == CHUNK {
        POOL.with_borrow_mut(|pool| {
            if pool.len() < POOLED {
                pool.push(buf);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{give, take, CHUNK};

    #[test]
    fn a_chunk_comes_back_unless_something_still_holds_it() {
        let mut buf = take();
        buf.extend_from_slice(b"hello");
        let frame = buf.split_to(5).freeze();
        give(buf);
        let other = take();
        assert!(other.capacity() >= CHUNK);
        // The pooled chunk (if any) is not the one `frame` pins.
        let pinned = frame.as_ptr() as usize;
        let start = other.as_ptr() as usize;
        assert!(pinned < start || pinned >= start + other.capacity());
        drop(frame);
    }
}
