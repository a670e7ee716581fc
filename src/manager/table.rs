//! The connection table: every connection a manager holds, by (local, remote) address.
//!
//! Two connections may share an address pair for a while: a TCP or UDP peer that comes
//! back on the same port while its previous connection is still closing, a client that
//! reuses a source port. So a pair maps to its connections (almost always one), and a
//! connection leaves the table by its id: a second connection on a live pair never
//! untracks the first. Lookups by address return the newest open one.
//!
//! A connection stays in the table until its socket is gone, through its flush and its
//! lingering close: closing connections count against `max_connections` and in
//! `Stats::closing`, so that connections that fail fast cannot pile up sockets outside
//! the bound.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use crate::tendril::traffic::Totals;
use crate::tendril::{Addr, Control};

/// A tracked connection.
pub(crate) struct Entry {
    pub(crate) id: u64,
    /// Its `Tendril`, type-erased, for lookups.
    pub(crate) tendril: Arc<dyn Any + Send + Sync>,
    pub(crate) control: Arc<dyn Control>,
    /// Its frame loop ended; the socket is still being flushed or lingering.
    pub(crate) closing: bool,
}

#[derive(Default)]
pub(crate) struct Table {
    /// The connections of each address pair, oldest first.
    pairs: HashMap<(Addr, Addr), Vec<Entry>>,
    len: usize,
    closing: usize,
}

impl Table {
    /// Connections held, closing ones included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Connections whose socket is closing.
    pub(crate) fn closing(&self) -> usize {
        self.closing
    }

    pub(crate) fn insert(&mut self, key: (Addr, Addr), entry: Entry) {
        self.pairs.entry(key).or_default().push(entry);
        self.len += 1;
    }

    /// Marks connection `id` as closing (its frame loop ended).
    pub(crate) fn set_closing(&mut self, key: &(Addr, Addr), id: u64) {
        let entry = self
            .pairs
            .get_mut(key)
            .and_then(|entries| entries.iter_mut().find(|entry| entry.id == id));
        if let Some(entry) = entry {
            if !entry.closing {
                entry.closing = true;
                self.closing += 1;
            }
        }
    }

    /// Removes connection `id`; returns it if it was there.
    pub(crate) fn remove(&mut self, key: &(Addr, Addr), id: u64) -> Option<Entry> {
        let entries = self.pairs.get_mut(key)?;
        let at = entries.iter().position(|entry| entry.id == id)?;
        let entry = entries.remove(at);
        if entries.is_empty() {
            self.pairs.remove(key);
        }
        self.len -= 1;
        if entry.closing {
            self.closing -= 1;
        }
        Some(entry)
    }

    /// The newest open connection between `local` and `remote`.
    pub(crate) fn find(&self, key: &(Addr, Addr)) -> Option<&Entry> {
        self.pairs
            .get(key)?
            .iter()
            .rev()
            .find(|entry| !entry.closing)
    }

    /// Every open connection.
    pub(crate) fn open(&self) -> impl Iterator<Item = (&(Addr, Addr), &Entry)> {
        self.pairs.iter().flat_map(|(key, entries)| {
            entries
                .iter()
                .filter(|entry| !entry.closing)
                .map(move |entry| (key, entry))
        })
    }

    /// Every connection, closing ones included.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Entry> {
        self.pairs.values().flatten()
    }

    /// The traffic of every connection held.
    pub(crate) fn traffic(&self) -> Totals {
        let mut total = Totals::default();
        for entry in self.all() {
            total += entry.control.traffic();
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::{Entry, Table};
    use crate::tendril::traffic::Totals;
    use crate::tendril::{Addr, Control};
    use std::sync::Arc;

    struct Nothing;

    impl Control for Nothing {
        fn shutdown(&self, _graceful: bool) {}
        fn reclaim(&self) {}
        fn traffic(&self) -> Totals {
            Totals::default()
        }
    }

    fn entry(id: u64) -> Entry {
        Entry {
            id,
            tendril: Arc::new(id),
            control: Arc::new(Nothing),
            closing: false,
        }
    }

    fn key() -> (Addr, Addr) {
        let local: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let remote: std::net::SocketAddr = "127.0.0.1:2".parse().unwrap();
        (local.into(), remote.into())
    }

    #[test]
    fn a_second_connection_on_a_pair_never_untracks_the_first() {
        let mut table = Table::default();
        table.insert(key(), entry(1));
        table.insert(key(), entry(2));
        assert_eq!(table.len(), 2);
        // The older one goes; the newer one stays findable.
        assert!(table.remove(&key(), 1).is_some());
        let found = table.find(&key()).unwrap();
        assert_eq!(found.id, 2);
        assert!(
            table.remove(&key(), 1).is_none(),
            "removing twice does nothing"
        );
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn closing_connections_count_but_are_not_found() {
        let mut table = Table::default();
        table.insert(key(), entry(1));
        table.set_closing(&key(), 1);
        table.set_closing(&key(), 1);
        assert_eq!((table.len(), table.closing()), (1, 1));
        assert!(table.find(&key()).is_none());
        assert_eq!(table.open().count(), 0);
        table.remove(&key(), 1);
        assert_eq!((table.len(), table.closing()), (0, 0));
    }
}
