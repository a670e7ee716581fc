//! Buffers between uses: a small per-thread pool, so that a connection holds no buffer
//! while it is idle and yet does not go to the allocator for every burst of traffic.
//!
//! A connection takes a chunk when data arrives or a reply is encoded and gives it
//! back once it is drained; the pool of each worker thread keeps at most
//! [`POOLED`] chunks, so it is bounded however many connections there are. Only
//! buffers that nothing else references go back (a frame split from a read buffer
//! keeps its allocation alive; that buffer is simply dropped by the connection).

use std::cell::RefCell;
use std::thread::LocalKey;

use bytes::BytesMut;

/// The size of a pooled read buffer: the most read at once into a fresh buffer (but
/// for bulk reads of large frames), and the most a small frame kept by the
/// application pins (see `stream`). Twice tokio-util's 8 KiB default.
pub(crate) const CHUNK: usize = 16 * 1024;

/// The size of a pooled write buffer, and its high-water mark: a busy connection
/// writes up to 64 KiB per system call. On loopback and fast links a write's cost is
/// mostly per call (the peer's wake-up, its receive path), not per byte; a write
/// buffer holds only the connection's own encoded bytes, so its size pins nothing.
pub(crate) const WRITE_CHUNK: usize = 64 * 1024;

/// Read chunks kept per thread (256 KiB).
const POOLED: usize = 16;

/// Write chunks kept per thread (512 KiB).
const POOLED_WRITES: usize = 8;

type Pool = LocalKey<RefCell<Vec<BytesMut>>>;

thread_local! {
    static READS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static WRITES: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty read buffer with room for at least [`CHUNK`] bytes.
#[inline]
pub(crate) fn take() -> BytesMut {
    take_from(&READS, CHUNK)
}

/// Gives read buffer `buf` back if it is a chunk that nothing else references; drops
/// it otherwise.
#[inline]
pub(crate) fn give(buf: BytesMut) {
    give_to(&READS, CHUNK, POOLED, buf);
}

/// An empty write buffer with room for at least [`WRITE_CHUNK`] bytes.
#[inline]
pub(crate) fn take_write() -> BytesMut {
    take_from(&WRITES, WRITE_CHUNK)
}

/// Gives write buffer `buf` back, as [`give`] does.
#[inline]
pub(crate) fn give_write(buf: BytesMut) {
    give_to(&WRITES, WRITE_CHUNK, POOLED_WRITES, buf);
}

#[inline]
fn take_from(pool: &'static Pool, size: usize) -> BytesMut {
    pool.with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| BytesMut::with_capacity(size))
}

#[inline]
fn give_to(pool: &'static Pool, size: usize, kept: usize, mut buf: BytesMut) {
    if buf.capacity() == 0 {
        return;
    }
    buf.clear();
    // `try_reclaim` succeeds only for a unique buffer, and then restores its whole
    // capacity; a buffer that grew past its size is not kept (a read buffer's size
    // tells which frames may be split from it).
    if buf.try_reclaim(size) && buf.capacity() == size {
        pool.with_borrow_mut(|pool| {
            if pool.len() < kept {
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
