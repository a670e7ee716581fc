//! A connection's traffic counts, kept with the connection.
//!
//! The driver adds to plain local totals and stores them here once per pass (a plain
//! store: only the driver writes, so no atomic read-modify-write and no cache line
//! shared between connections is touched on the frame path). The manager's `stats`
//! sums the live connections' counts with those of the connections that closed.

use std::ops::AddAssign;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Frames and bytes moved by one connection, or by several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) frames_in: u64,
    pub(crate) frames_out: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    /// Calls dropped by the call timeout.
    pub(crate) call_timeouts: u64,
}

impl AddAssign for Totals {
    fn add_assign(&mut self, other: Totals) {
        self.frames_in += other.frames_in;
        self.frames_out += other.frames_out;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.call_timeouts += other.call_timeouts;
    }
}

/// A connection's totals, written by its driver, read by anyone.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    call_timeouts: AtomicU64,
    /// Calls in flight, a frame held or output pending when the driver last slept.
    busy: AtomicBool,
}

impl Traffic {
    /// Publishes the driver's totals (only the driver calls this).
    #[inline]
    pub(crate) fn store(&self, totals: &Totals) {
        self.frames_in.store(totals.frames_in, Ordering::Relaxed);
        self.frames_out.store(totals.frames_out, Ordering::Relaxed);
        self.bytes_in.store(totals.bytes_in, Ordering::Relaxed);
        self.bytes_out.store(totals.bytes_out, Ordering::Relaxed);
        self.call_timeouts
            .store(totals.call_timeouts, Ordering::Relaxed);
    }

    /// Publishes whether the connection is busy (only the driver calls this, when it
    /// changes).
    #[inline]
    pub(crate) fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Relaxed);
    }

    pub(crate) fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }

    pub(crate) fn load(&self) -> Totals {
        Totals {
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            call_timeouts: self.call_timeouts.load(Ordering::Relaxed),
        }
    }
}
