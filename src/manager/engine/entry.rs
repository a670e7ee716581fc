//! A connection as the table holds it ([`Entry`]: its control, its source, its closing
//! state and what the table saw of its traffic), the connections of one address pair
//! ([`Entries`], almost always one, inline), and the hasher of the table's pre-hashed
//! keys.

use std::hash::Hasher;
use std::sync::{Arc, OnceLock};

use tokio::time::Instant;

use super::sources::Source;
use crate::tendril::control::Control;
use crate::tendril::traffic::Totals;
use crate::tendril::Addr;

/// A tracked connection.
pub(crate) struct Entry {
    /// Its shared state: addresses, signals, traffic, and (type-erased) its `Tendril`.
    pub(crate) control: Arc<dyn Control>,
    /// Where it comes from (`None`: not known, such as stdio).
    pub(super) source: Option<Source>,
    /// Its frame loop ended; the socket is still being flushed or lingering.
    pub(crate) closing: bool,
    /// Closed, and waiting for the peer's end (see `Lingering`).
    pub(super) lingering: bool,
    /// Shed for a newcomer.
    pub(super) shed: bool,
    /// Its traffic when the table last looked (the sum of its counters, which only
    /// grow: any traffic changes it).
    pub(super) seen: u64,
    /// Since when the table has seen it quiet (no traffic, not busy), in milliseconds
    /// since the process's first connection.
    pub(super) quiet_since: u64,
}

/// Milliseconds since the first call, for compact timestamps.
pub(crate) fn millis(now: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| now);
    now.saturating_duration_since(epoch).as_millis() as u64
}

/// A connection's traffic, summed: equal sums mean no traffic in between.
fn fingerprint(traffic: Totals) -> u64 {
    traffic
        .frames_in
        .wrapping_add(traffic.frames_out)
        .wrapping_add(traffic.bytes_in)
        .wrapping_add(traffic.bytes_out)
}

impl Entry {
    pub(crate) fn new(control: Arc<dyn Control>, source: Option<Source>) -> Self {
        Entry {
            control,
            source,
            closing: false,
            lingering: false,
            shed: false,
            seen: 0,
            quiet_since: millis(Instant::now()),
        }
    }

    /// Notes its traffic: true if it is quiet (no traffic since last seen, not busy).
    pub(super) fn look(&mut self, now: u64) -> bool {
        let traffic = fingerprint(self.control.traffic());
        if traffic != self.seen || self.control.busy() {
            self.seen = traffic;
            self.quiet_since = now;
            return false;
        }
        true
    }

    /// The connection's id.
    pub(crate) fn id(&self) -> u64 {
        self.control.info().id()
    }

    /// Its (local, remote) addresses.
    pub(crate) fn key(&self) -> (Addr, Addr) {
        let info = self.control.info();
        (info.local().clone(), info.remote().clone())
    }

    pub(super) fn is(&self, key: &(Addr, Addr)) -> bool {
        let info = self.control.info();
        *info.local() == key.0 && *info.remote() == key.1
    }
}

/// The connections of one address pair (of one hash of it), oldest first: almost
/// always one, held inline.
pub(super) enum Entries {
    One(Entry),
    Many(Vec<Entry>),
}

impl Entries {
    pub(super) fn as_slice(&self) -> &[Entry] {
        match self {
            Entries::One(entry) => std::slice::from_ref(entry),
            Entries::Many(entries) => entries,
        }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [Entry] {
        match self {
            Entries::One(entry) => std::slice::from_mut(entry),
            Entries::Many(entries) => entries,
        }
    }

    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.as_mut_slice()
            .iter_mut()
            .find(|entry| entry.id() == id)
    }

    pub(super) fn push(&mut self, entry: Entry) {
        match self {
            Entries::Many(entries) => entries.push(entry),
            Entries::One(_) => {
                let Entries::One(first) = std::mem::replace(self, Entries::Many(Vec::new())) else {
                    return;
                };
                *self = Entries::Many(vec![first, entry]);
            }
        }
    }
}

/// Hashes a `u64` that is a keyed hash already: as it is.
#[derive(Default)]
pub(super) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}
