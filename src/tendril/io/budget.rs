//! A manager's memory budget: the bytes its connections buffer, counted in total.
//!
//! Each connection may hold one chunk of read buffer (16 KiB) and one of write buffer
//! (64 KiB) without counting them (the total of those is bounded by `max_connections`); what
//! its buffers hold beyond that is charged to the budget when an allocation grows or
//! shrinks, never per frame (an atomic add on growth, nothing while a buffer keeps its
//! size). While the budget has room every growth is granted. When it is short, no
//! connection may hold more than its fair share (the budget divided among the
//! connections holding counted bytes): a connection asking to grow past it is closed
//! with [`MemoryBudget`]; one asking within its share is granted, and the connection
//! holding the most beyond its share is shed instead (it is told through its
//! [`Control`]), so well-behaved connections keep being served while the largest
//! holders are shed. The holders are the budget's [`ShedQueue`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::error::Error;
use crate::pool;
use crate::shed::ShedQueue;
use crate::tendril::control::Control;
use crate::tendril::guards::MemoryBudget;

/// Bytes of a read buffer not counted (a pooled read chunk).
pub(crate) const FREE: usize = pool::CHUNK;

/// Bytes of a write buffer not counted (a pooled write chunk).
const FREE_WRITE: usize = pool::WRITE_CHUNK;

/// The bytes counted for buffers of `read` and `write` bytes.
#[inline]
pub(crate) fn counted(read: usize, write: usize) -> usize {
    read.saturating_sub(FREE) + write.saturating_sub(FREE_WRITE)
}

/// The default budget of a manager: 256 MiB.
pub(crate) const DEFAULT_BUDGET: usize = 256 * 1024 * 1024;

/// The size of a frame of a byte-like type (`Bytes`, `BytesMut`, `Vec<u8>`, `String`,
/// `Box<[u8]>`), 0 for others: what a queued frame holds, for the budget.
pub(crate) fn frame_len<Out: 'static>(frame: &Out) -> usize {
    let any = frame as &dyn std::any::Any;
    if let Some(bytes) = any.downcast_ref::<bytes::Bytes>() {
        bytes.len()
    } else if let Some(bytes) = any.downcast_ref::<bytes::BytesMut>() {
        bytes.len()
    } else if let Some(bytes) = any.downcast_ref::<Vec<u8>>() {
        bytes.len()
    } else if let Some(text) = any.downcast_ref::<String>() {
        text.len()
    } else if let Some(bytes) = any.downcast_ref::<Box<[u8]>>() {
        bytes.len()
    } else {
        0
    }
}

/// The error of a connection shed for the budget whose own buffers were not counted.
pub(crate) fn shed_unaccounted() -> Error {
    Error::limit("shed for the memory budget")
}

/// One manager's budget, shared by its connections.
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    /// Connections holding counted bytes now.
    holders: AtomicUsize,
    /// The connections that ever held counted bytes, for shedding (the ones that left
    /// are dropped when they come up or when the queue is compacted).
    registry: Mutex<ShedQueue<Arc<Holding>>>,
}

/// What one connection holds, as the other connections see it.
struct Holding {
    bytes: AtomicUsize,
    /// Its connection ended: a stale candidate.
    gone: AtomicBool,
    control: Weak<dyn Control>,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Budget {
            limit: limit.max(1),
            used: AtomicUsize::new(0),
            holders: AtomicUsize::new(0),
            registry: Mutex::default(),
        })
    }

    fn registry(&self) -> MutexGuard<'_, ShedQueue<Arc<Holding>>> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes counted now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The share of each connection holding counted bytes.
    fn fair_share(&self) -> usize {
        self.limit / self.holders.load(Ordering::Relaxed).max(1)
    }

    /// A charge for a connection, told through `control` if it is shed.
    pub(crate) fn charge(self: &Arc<Self>, control: Weak<dyn Control>) -> Charge {
        Charge {
            budget: self.clone(),
            control,
            holding: None,
            counted: 0,
        }
    }

    /// Sheds the connection holding the most beyond `share`, other than `me`.
    fn shed_largest(&self, me: &Arc<Holding>, share: usize) {
        let largest = self.registry().shed_best(|holding| {
            let bytes = holding.bytes.load(Ordering::Relaxed);
            let candidate =
                !Arc::ptr_eq(holding, me) && !holding.gone.load(Ordering::Relaxed) && bytes > share;
            candidate.then_some(bytes)
        });
        if let Some(control) = largest.and_then(|holding| holding.control.upgrade()) {
            control.shed_memory();
        }
    }
}

/// One connection's account with its manager's budget.
pub(crate) struct Charge {
    budget: Arc<Budget>,
    control: Weak<dyn Control>,
    /// Registered on the first counted byte.
    holding: Option<Arc<Holding>>,
    counted: usize,
}

impl Charge {
    /// The bytes counted now.
    #[inline(always)]
    pub(crate) fn counted(&self) -> usize {
        self.counted
    }

    /// True if `more` bytes fit in the budget with half of it still free: the test for
    /// growth that is only an optimisation (a larger read), which must never bring the
    /// budget under pressure.
    #[inline]
    pub(crate) fn spare(&self, more: usize) -> bool {
        self.budget.used().saturating_add(more) <= self.budget.limit / 2
    }

    /// The connection's buffers now hold `want` counted bytes (see [`counted`]).
    ///
    /// # Errors
    ///
    /// [`Error::is_limit`] with [`MemoryBudget`] if the budget is short and `want`
    /// is over the connection's fair share: the connection must close.
    #[inline]
    pub(crate) fn set(&mut self, want: usize) -> Result<(), Error> {
        if want == self.counted {
            return Ok(());
        }
        self.change(want)
    }

    #[cold]
    fn change(&mut self, want: usize) -> Result<(), Error> {
        let budget = self.budget.clone();
        let had = std::mem::replace(&mut self.counted, want);
        if want < had {
            budget.used.fetch_sub(had - want, Ordering::Relaxed);
            if want == 0 {
                budget.holders.fetch_sub(1, Ordering::Relaxed);
            }
            if let Some(holding) = &self.holding {
                holding.bytes.store(want, Ordering::Relaxed);
            }
            return Ok(());
        }
        if had == 0 {
            budget.holders.fetch_add(1, Ordering::Relaxed);
        }
        let used = budget.used.fetch_add(want - had, Ordering::Relaxed) + (want - had);
        self.holding().bytes.store(want, Ordering::Relaxed);
        if used <= budget.limit {
            return Ok(());
        }
        let share = budget.fair_share();
        if want > share {
            return Err(Error::limit(MemoryBudget {
                held: want,
                share,
                budget: budget.limit,
            }));
        }
        // Within its share: the largest holder goes instead.
        let me = self.holding().clone();
        budget.shed_largest(&me, share);
        Ok(())
    }

    fn holding(&mut self) -> &Arc<Holding> {
        if self.holding.is_none() {
            let holding = Arc::new(Holding {
                bytes: AtomicUsize::new(0),
                gone: AtomicBool::new(false),
                control: self.control.clone(),
            });
            let mut registry = self.budget.registry();
            registry.push_back(holding.clone());
            let live = self.budget.holders.load(Ordering::Relaxed);
            registry.compact(live, |holding| holding.gone.load(Ordering::Relaxed));
            drop(registry);
            self.holding = Some(holding);
        }
        self.holding.as_ref().expect("registered above")
    }

    /// The error of a connection shed for the budget, with what it holds now.
    pub(crate) fn shed_error(&self) -> Error {
        Error::limit(MemoryBudget {
            held: self.counted,
            share: self.budget.fair_share(),
            budget: self.budget.limit,
        })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.counted > 0 {
            self.budget.used.fetch_sub(self.counted, Ordering::Relaxed);
            self.budget.holders.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(holding) = &self.holding {
            holding.gone.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tendril::traffic::Totals;
    use crate::tendril::ConnectionInfo;

    struct Told(AtomicBool, ConnectionInfo);

    impl Default for Told {
        fn default() -> Self {
            let addr = crate::tendril::Addr::Unnamed(0);
            let info = ConnectionInfo::new(0, "test".into(), addr.clone(), addr);
            Told(AtomicBool::new(false), info)
        }
    }

    impl Control for Told {
        fn shutdown(&self, _graceful: bool) {}
        fn shed_idle(&self) {}
        fn shed_memory(&self) {
            self.0.store(true, Ordering::Relaxed);
        }
        fn traffic(&self) -> Totals {
            Totals::default()
        }
        fn busy(&self) -> bool {
            false
        }
        fn info(&self) -> &ConnectionInfo {
            &self.1
        }
        fn tendril(self: Arc<Self>) -> Box<dyn std::any::Any> {
            Box::new(self)
        }
    }

    fn charge(budget: &Arc<Budget>) -> (Charge, Arc<Told>, Arc<dyn Control>) {
        let told = Arc::new(Told::default());
        let control: Arc<dyn Control> = told.clone();
        (budget.charge(Arc::downgrade(&control)), told, control)
    }

    const MIB: usize = 1024 * 1024;

    #[test]
    fn a_chunk_of_each_buffer_is_not_counted() {
        assert_eq!(counted(FREE, FREE_WRITE), 0);
        assert_eq!(counted(FREE + 100, 10), 100);
        assert_eq!(counted(FREE + 100, FREE_WRITE + 1), 101);
        let budget = Budget::new(MIB);
        let (mut a, _, _keep_a) = charge(&budget);
        a.set(100).unwrap();
        assert_eq!(budget.used(), 100);
        a.set(0).unwrap();
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn past_its_share_under_pressure_a_connection_is_refused() {
        let budget = Budget::new(MIB);
        let (mut a, _, _keep_a) = charge(&budget);
        let (mut b, _, _keep_b) = charge(&budget);
        b.set(1).unwrap();
        // Alone in a budget with room: it may take all of it.
        a.set(MIB - 1).unwrap();
        let err = a.set(MIB + 1).unwrap_err();
        assert!(err.is_limit());
        let cause = err.cause::<MemoryBudget>().unwrap();
        assert_eq!((cause.share, cause.budget), (MIB / 2, MIB));
        drop(a);
        assert_eq!(budget.used(), 1, "a closed connection gives its bytes back");
    }

    #[test]
    fn within_its_share_a_connection_grows_and_the_largest_holder_is_shed() {
        let budget = Budget::new(MIB);
        let (mut big, big_told, _keep_big) = charge(&budget);
        let (mut small, small_told, _keep_small) = charge(&budget);
        big.set(MIB - 1000).unwrap();
        small.set(10_000).unwrap();
        assert!(
            big_told.0.load(Ordering::Relaxed),
            "the largest holder is told"
        );
        assert!(!small_told.0.load(Ordering::Relaxed));
        assert!(big.shed_error().is_limit());
        drop(big);
        assert_eq!(budget.used(), 10_000);
        let _ = small;
    }
}
