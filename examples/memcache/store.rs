//! The items of the memcache_server example: keys, values with their flags, CAS
//! unique and expiry, bounded in bytes.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// What an item is charged beyond its key and value (memcached's own overhead is
/// about 50 bytes).
const ITEM_OVERHEAD: usize = 64;

/// Expiry times above this many seconds are absolute Unix times (memcached's rule).
const RELATIVE_LIMIT: i64 = 60 * 60 * 24 * 30;

/// One item.
pub struct Item {
    pub flags: u32,
    pub value: Bytes,
    pub cas: u64,
    expires: Option<Instant>,
}

/// How a storage command stores.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `set`: always.
    Set,
    /// `add`: only if the key is absent.
    Add,
    /// `replace`: only if the key is present.
    Replace,
    /// `cas`: only if the item's CAS unique is still this one.
    Cas(u64),
}

/// The outcome of a storage command, as the protocol says it.
pub enum Outcome {
    Stored,
    NotStored,
    Exists,
    NotFound,
    OutOfMemory,
}

impl Outcome {
    pub fn line(&self) -> &'static [u8] {
        match self {
            Outcome::Stored => b"STORED\r\n",
            Outcome::NotStored => b"NOT_STORED\r\n",
            Outcome::Exists => b"EXISTS\r\n",
            Outcome::NotFound => b"NOT_FOUND\r\n",
            Outcome::OutOfMemory => b"SERVER_ERROR out of memory storing object\r\n",
        }
    }
}

/// The items, at most `max_bytes` of keys, values and overhead in all.
pub struct Store {
    items: HashMap<Bytes, Item>,
    used: usize,
    max_bytes: usize,
    next_cas: u64,
}

fn charge(key: &Bytes, value: &Bytes) -> usize {
    key.len() + value.len() + ITEM_OVERHEAD
}

/// When an item given `exptime` expires: never for 0, at once for a negative time,
/// after that many seconds up to 30 days, else at that Unix time.
fn expiry(exptime: i64, now: Instant) -> Option<Instant> {
    match exptime {
        0 => None,
        t if t < 0 => Some(now),
        t if t <= RELATIVE_LIMIT => Some(now + Duration::from_secs(t as u64)),
        t => {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs() as i64);
            Some(now + Duration::from_secs(t.saturating_sub(unix).max(0) as u64))
        }
    }
}

impl Store {
    pub fn new(max_bytes: usize) -> Self {
        Store {
            items: HashMap::new(),
            used: 0,
            max_bytes,
            next_cas: 1,
        }
    }

    /// The live item under `key` (an expired one is dropped here).
    pub fn get(&mut self, key: &[u8]) -> Option<&Item> {
        let now = Instant::now();
        let expired = self
            .items
            .get(key)?
            .expires
            .is_some_and(|expires| expires <= now);
        if expired {
            self.remove(key);
            return None;
        }
        self.items.get(key)
    }

    pub fn remove(&mut self, key: &[u8]) -> bool {
        match self.items.remove_entry(key) {
            Some((key, item)) => {
                self.used -= charge(&key, &item.value);
                true
            }
            None => false,
        }
    }

    pub fn store(
        &mut self,
        mode: Mode,
        key: Bytes,
        flags: u32,
        exptime: i64,
        value: Bytes,
    ) -> Outcome {
        let present = self.get(&key).map(|item| item.cas);
        match (mode, present) {
            (Mode::Add, Some(_)) => return Outcome::NotStored,
            (Mode::Replace, None) => return Outcome::NotStored,
            (Mode::Cas(_), None) => return Outcome::NotFound,
            (Mode::Cas(unique), Some(cas)) if cas != unique => return Outcome::Exists,
            _ => {}
        }
        let now = Instant::now();
        let needed = charge(&key, &value);
        let freed = self
            .items
            .get(&key)
            .map_or(0, |item| charge(&key, &item.value));
        if self.used - freed + needed > self.max_bytes {
            // Expired items still hold room: drop them and look again.
            self.sweep(now);
            let freed = self
                .items
                .get(&key)
                .map_or(0, |item| charge(&key, &item.value));
            if self.used - freed + needed > self.max_bytes {
                return Outcome::OutOfMemory;
            }
        }
        self.remove(&key);
        self.used += needed;
        let cas = self.next_cas;
        self.next_cas += 1;
        self.items.insert(
            key,
            Item {
                flags,
                value,
                cas,
                expires: expiry(exptime, now),
            },
        );
        Outcome::Stored
    }

    fn sweep(&mut self, now: Instant) {
        let used = &mut self.used;
        self.items.retain(|key, item| {
            let live = item.expires.is_none_or(|expires| expires > now);
            if !live {
                *used -= charge(key, &item.value);
            }
            live
        });
    }
}
