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
//!
//! A full table does not lock newcomers out: it sheds a connection that closed and
//! only lingers for its peer's end, else the connection that has been quiet longest
//! (no traffic and nothing in flight or pending) if it has been quiet long enough.
//! Quietness is seen by comparing each connection's published traffic with what the
//! table saw before, when the table is nearly full (once a second) and when a newcomer
//! finds it full; nothing is done per frame. The candidates are a [`ShedQueue`].
//!
//! The table holds each connection once: it is keyed by a keyed hash of its address
//! pair (the addresses themselves are in the connection's info, compared on lookup),
//! and a pair's one connection is stored inline, so that a connection costs the table
//! one bucket and no allocation of its own.
//!
//! Every connection counts under its source (`sources`), so that a full table is
//! shared: a newcomer from a source below its fair share displaces a connection of
//! the source holding the most, and one from a source at its share is refused, before
//! idleness is asked (see [`Table::make_room`]).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::time::Duration;

use tokio::time::Instant;

use super::entry::{millis, Entries, Entry, Prehashed};
use super::sources::{Refusal, Source, SourceLimits, Sources};
use crate::shed::{ShedQueue, Verdict};
use crate::tendril::traffic::Totals;
use crate::tendril::Addr;

/// Who was shed for a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shed {
    /// A connection that had closed and only lingered for its peer's end.
    Lingering,
    /// An idle open connection: it closes as shed.
    Open,
}

/// Most shedding candidates kept from one look at the table.
const CANDIDATES: usize = 256;

/// Lingering connections queued as candidates as they start lingering, at most.
const MAX_QUEUED: usize = 1024;

/// How often a nearly full table looks at its connections.
const OBSERVE_EVERY: Duration = Duration::from_secs(1);

/// A full table with no candidate left looks again at most this often.
const RESCAN_EVERY: Duration = Duration::from_millis(100);

/// Where a connection is: the hash of its address pair, and its id.
type Place = (u64, u64);

pub(crate) struct Table {
    /// The connections of each address pair's hash, oldest first.
    pairs: HashMap<u64, Entries, BuildHasherDefault<Prehashed>>,
    /// The keyed hash of address pairs.
    hasher: RandomState,
    len: usize,
    closing: usize,
    /// Connections shed and not yet gone.
    shedding: usize,
    last_look: Option<Instant>,
    /// When candidates were last looked for.
    last_scan: Option<Instant>,
    /// The lingering connections, then the quietest at the last look, quietest first.
    candidates: ShedQueue<Place>,
    /// The connections of each source.
    pub(crate) sources: Sources,
}

impl Table {
    pub(crate) fn new(limits: SourceLimits) -> Self {
        Table {
            pairs: HashMap::default(),
            hasher: RandomState::new(),
            len: 0,
            closing: 0,
            shedding: 0,
            last_look: None,
            last_scan: None,
            candidates: ShedQueue::default(),
            sources: Sources::new(limits),
        }
    }

    /// Connections held, closing ones included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Connections held, less those shed for a newcomer (they are on their way out,
    /// within moments: they were idle).
    pub(crate) fn held(&self) -> usize {
        self.len - self.shedding
    }

    /// At three quarters of `max` or more, looks at every connection once a second,
    /// so that how long each has been quiet is known when the table fills.
    pub(crate) fn observe(&mut self, now: Instant, max: usize) {
        let due = self
            .last_look
            .is_none_or(|last| now.duration_since(last) >= OBSERVE_EVERY);
        if due && self.len.saturating_mul(4) >= max.saturating_mul(3) {
            self.look(now, None);
        }
    }

    /// Updates every open connection's quietness; with `min_quiet`, keeps the quietest
    /// of those quiet that long as candidates.
    fn look(&mut self, now: Instant, min_quiet: Option<Duration>) {
        self.last_look = Some(now);
        if min_quiet.is_some() {
            self.last_scan = Some(now);
        }
        // Lingering connections first (`None`: already closed, they only wait for
        // their peer's end), then the quiet ones, quietest first.
        let now_ms = millis(now);
        let min_ms = min_quiet.map(|min| min.as_millis() as u64);
        let mut found = Vec::new();
        for (&hash, entries) in &mut self.pairs {
            for entry in entries
                .as_mut_slice()
                .iter_mut()
                .filter(|entry| !entry.shed)
            {
                if entry.lingering {
                    if min_quiet.is_some() {
                        found.push((None, hash, entry.id()));
                    }
                    continue;
                }
                if entry.closing {
                    continue;
                }
                let quiet = entry.look(now_ms);
                if let Some(min) = min_ms {
                    if quiet && now_ms.saturating_sub(entry.quiet_since) >= min {
                        found.push((Some(entry.quiet_since), hash, entry.id()));
                    }
                }
            }
        }
        if min_quiet.is_none() {
            // Only noting: the candidates queued meanwhile stay.
            return;
        }
        if found.len() > CANDIDATES {
            found.select_nth_unstable_by_key(CANDIDATES, |(since, _, _)| *since);
            found.truncate(CANDIDATES);
        }
        found.sort_unstable_by_key(|(since, _, _)| *since);
        self.candidates
            .replace(found.into_iter().map(|(_, hash, id)| (hash, id)));
    }

    /// Sheds the connection quiet longest (at least `min_quiet`) for a newcomer (a
    /// lingering one first), if there is one.
    pub(crate) fn shed_idle(&mut self, now: Instant, min_quiet: Duration) -> Option<Shed> {
        loop {
            let pairs = &mut self.pairs;
            let now_ms = millis(now);
            // Still lingering, or quiet since the look that chose it?
            let shed = self.candidates.shed_first(|&(hash, id)| {
                let entry = pairs.get_mut(&hash).and_then(|entries| entries.get_mut(id));
                let Some(entry) = entry else {
                    return Verdict::Stale;
                };
                if entry.shed || (entry.closing && !entry.lingering) {
                    Verdict::Stale
                } else if entry.lingering || entry.look(now_ms) {
                    Verdict::Shed
                } else {
                    Verdict::Stale
                }
            });
            if let Some((hash, id)) = shed {
                let entry = self
                    .pairs
                    .get_mut(&hash)
                    .and_then(|entries| entries.get_mut(id));
                if let Some(entry) = entry {
                    entry.shed = true;
                    entry.control.shed_idle();
                    self.shedding += 1;
                    return Some(if entry.lingering {
                        Shed::Lingering
                    } else {
                        Shed::Open
                    });
                }
                continue;
            }
            let recent = self
                .last_scan
                .is_some_and(|last| now.duration_since(last) < RESCAN_EVERY);
            if recent {
                return None;
            }
            self.look(now, Some(min_quiet));
            if self.candidates.is_empty() {
                return None;
            }
        }
    }

    /// Connections whose socket is closing.
    pub(crate) fn closing(&self) -> usize {
        self.closing
    }

    /// Adds a connection, counted under its source if that source's limits allow it.
    pub(crate) fn insert(
        &mut self,
        key: (Addr, Addr),
        entry: Entry,
        now: Instant,
    ) -> Result<(), Refusal> {
        if let Some(source) = entry.source {
            self.sources.open(source, millis(now))?;
        }
        match self.pairs.entry(self.hasher.hash_one(&key)) {
            std::collections::hash_map::Entry::Occupied(mut entries) => {
                entries.get_mut().push(entry)
            }
            std::collections::hash_map::Entry::Vacant(room) => {
                room.insert(Entries::One(entry));
            }
        }
        self.len += 1;
        Ok(())
    }

    /// Makes room for a newcomer from `source` in a table holding `max`: by the
    /// sources' shares, then by idleness. With more than one source, the fair share
    /// is `max` divided among the sources (the newcomer's included): a newcomer whose
    /// source holds its share already is refused; one below it displaces a
    /// connection of the source holding the most if that one holds more than its
    /// share (its lingering or quietest connection not busy, however young: churn
    /// cannot keep a source's connections out of reach). Otherwise, or with one source alone, a
    /// lingering connection or the one quiet longest (at least `shed_idle_after`)
    /// goes, as without sources.
    pub(crate) fn make_room(
        &mut self,
        source: Option<Source>,
        max: usize,
        now: Instant,
        shed_idle_after: Option<Duration>,
    ) -> Option<Shed> {
        if let Some(source) = source {
            let mine = self.sources.held(&source);
            let sources = self.sources.holding() + usize::from(mine == 0);
            if sources > 1 {
                let share = max / sources;
                if mine >= share {
                    return None;
                }
                if let Some((top, held)) = self.sources.top() {
                    if held > share {
                        if let Some(shed) = self.shed_from(top, now) {
                            return Some(shed);
                        }
                    }
                }
            }
        }
        shed_idle_after.and_then(|after| self.shed_idle(now, after))
    }

    /// Sheds a connection of `source`: a lingering one, else the one quiet longest
    /// (never a busy one: a call in flight or output pending). One pass over the table, done only for a newcomer below its
    /// share while another source holds more than its own.
    fn shed_from(&mut self, source: Source, now: Instant) -> Option<Shed> {
        let now_ms = millis(now);
        // (open, quiet since): lingering first, then the quietest.
        type Rank = (bool, u64);
        let mut best: Option<(Rank, Place)> = None;
        for (&hash, entries) in &mut self.pairs {
            for entry in entries.as_mut_slice() {
                if entry.source != Some(source) || entry.shed {
                    continue;
                }
                if entry.closing && !entry.lingering {
                    continue;
                }
                let rank = if entry.lingering {
                    (false, 0)
                } else if entry.control.busy() {
                    // An active connection is never shed: it closes when done.
                    continue;
                } else {
                    entry.look(now_ms);
                    (true, entry.quiet_since)
                };
                if best.as_ref().is_none_or(|(best, _)| rank < *best) {
                    best = Some((rank, (hash, entry.id())));
                }
            }
        }
        let (_, (hash, id)) = best?;
        let entry = self.pairs.get_mut(&hash)?.get_mut(id)?;
        entry.shed = true;
        entry.control.shed_idle();
        self.shedding += 1;
        Some(if entry.lingering {
            Shed::Lingering
        } else {
            Shed::Open
        })
    }

    /// Sheds a connection of the source holding the most (when the system is out of
    /// descriptors: the newcomer waiting is not known yet, and is most likely from
    /// another source).
    pub(crate) fn shed_top(&mut self, now: Instant) -> Option<Shed> {
        let (top, _) = self.sources.top()?;
        self.shed_from(top, now)
    }

    /// Marks connection `id` as closing (its frame loop ended).
    pub(crate) fn set_closing(&mut self, key: &(Addr, Addr), id: u64) {
        let place = (self.hasher.hash_one(key), id);
        if let Some(entry) = self.entry(place) {
            if !entry.closing {
                entry.closing = true;
                self.closing += 1;
            }
        }
    }

    /// Marks connection `id` as lingering (closed, waiting for its peer's end).
    pub(crate) fn set_lingering(&mut self, key: &(Addr, Addr), id: u64) {
        let place = (self.hasher.hash_one(key), id);
        if let Some(entry) = self.entry(place) {
            entry.lingering = true;
            // A candidate at once, for the next newcomer to a full table (checked when
            // taken; the next look at the table replaces the list).
            if self.candidates.len() < MAX_QUEUED {
                self.candidates.push_front(place);
            }
        }
    }

    /// Removes connection `id`; returns it if it was there.
    pub(crate) fn remove(&mut self, key: &(Addr, Addr), id: u64) -> Option<Entry> {
        let hash = self.hasher.hash_one(key);
        let entries = self.pairs.get_mut(&hash)?;
        let entry = match entries {
            Entries::One(entry) if entry.id() == id => match self.pairs.remove(&hash) {
                Some(Entries::One(entry)) => entry,
                _ => return None,
            },
            Entries::One(_) => return None,
            Entries::Many(many) => {
                let at = many.iter().position(|entry| entry.id() == id)?;
                let entry = many.remove(at);
                if many.len() == 1 {
                    if let Some(last) = many.pop() {
                        *entries = Entries::One(last);
                    }
                }
                entry
            }
        };
        self.len -= 1;
        if let Some(source) = entry.source {
            self.sources.close(source, millis(Instant::now()));
        }
        if entry.closing {
            self.closing -= 1;
        }
        if entry.shed {
            self.shedding -= 1;
        }
        Some(entry)
    }

    /// The newest open connection between `local` and `remote`.
    pub(crate) fn find(&self, key: &(Addr, Addr)) -> Option<&Entry> {
        self.pairs
            .get(&self.hasher.hash_one(key))?
            .as_slice()
            .iter()
            .rev()
            .find(|entry| !entry.closing && entry.is(key))
    }

    /// Every open connection.
    pub(crate) fn open(&self) -> impl Iterator<Item = &Entry> {
        self.all().filter(|entry| !entry.closing)
    }

    /// Every connection, closing ones included.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Entry> {
        self.pairs.values().flat_map(Entries::as_slice)
    }

    fn entry(&mut self, (hash, id): Place) -> Option<&mut Entry> {
        self.pairs.get_mut(&hash)?.get_mut(id)
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
    use super::super::sources::{Source, SourceLimits};
    use super::{Entry, Shed, Table};
    use crate::tendril::control::NoControl;
    use crate::tendril::{Addr, ConnectionInfo};
    use std::sync::Arc;
    use tokio::time::Instant;

    /// Connection `id` between the addresses of `key`.
    fn entry_at(id: u64, key: &(Addr, Addr), source: Option<Source>) -> Entry {
        let info = ConnectionInfo::new(id, "test".into(), key.0.clone(), key.1.clone());
        Entry::new(Arc::new(NoControl(info)), source)
    }

    fn entry(id: u64) -> Entry {
        entry_at(id, &key(), None)
    }

    fn from(id: u64, source: &str) -> ((Addr, Addr), Entry) {
        let local: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let remote: std::net::SocketAddr = format!("{source}:{id}").parse().unwrap();
        let remote = Addr::from(remote);
        let of = Source::of(&remote, None, 64);
        let key = (local.into(), remote);
        let entry = entry_at(id, &key, of);
        (key, entry)
    }

    #[tokio::test(start_paused = true)]
    async fn a_newcomer_below_its_share_displaces_the_largest_source() {
        use tokio::time::Instant;
        let mut table = Table::new(SourceLimits::default());
        let now = Instant::now();
        for id in 0..9 {
            let (key, entry) = from(id, "127.0.0.2");
            table.insert(key, entry, now).unwrap();
        }
        let (key, entry) = from(100, "127.0.0.3");
        table.insert(key, entry, now).unwrap();
        let big = Source::of(&from(0, "127.0.0.2").0 .1, None, 64);
        let small = Source::of(&from(0, "127.0.0.3").0 .1, None, 64);
        let fresh = Source::of(&from(0, "127.0.0.4").0 .1, None, 64);
        // The big source's own newcomer is refused: it holds more than its share.
        assert_eq!(table.make_room(big, 10, now, None), None);
        // Newcomers from the others displace one of its connections, young as they are.
        assert_eq!(table.make_room(small, 10, now, None), Some(Shed::Open));
        assert_eq!(table.make_room(fresh, 10, now, None), Some(Shed::Open));
        assert_eq!(table.held(), 8);
        // With one source alone, the old rule: nothing idle long enough, refused.
        let mut alone = Table::new(SourceLimits::default());
        let (key, entry) = from(1, "127.0.0.2");
        alone.insert(key, entry, now).unwrap();
        assert_eq!(alone.make_room(big, 1, now, None), None);
    }

    fn key() -> (Addr, Addr) {
        let local: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let remote: std::net::SocketAddr = "127.0.0.1:2".parse().unwrap();
        (local.into(), remote.into())
    }

    #[test]
    fn a_second_connection_on_a_pair_never_untracks_the_first() {
        let mut table = Table::new(SourceLimits::default());
        table.insert(key(), entry(1), Instant::now()).unwrap();
        table.insert(key(), entry(2), Instant::now()).unwrap();
        assert_eq!(table.len(), 2);
        // The older one goes; the newer one stays findable.
        assert!(table.remove(&key(), 1).is_some());
        let found = table.find(&key()).unwrap();
        assert_eq!(found.id(), 2);
        assert!(
            table.remove(&key(), 1).is_none(),
            "removing twice does nothing"
        );
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn closing_connections_count_but_are_not_found() {
        let mut table = Table::new(SourceLimits::default());
        table.insert(key(), entry(1), Instant::now()).unwrap();
        table.set_closing(&key(), 1);
        table.set_closing(&key(), 1);
        assert_eq!((table.len(), table.closing()), (1, 1));
        assert!(table.find(&key()).is_none());
        assert_eq!(table.open().count(), 0);
        table.remove(&key(), 1);
        assert_eq!((table.len(), table.closing()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lingering_connection_is_shed_first_then_the_quietest() {
        use std::time::Duration;
        let mut table = Table::new(SourceLimits::default());
        let other = {
            let local: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
            let remote: std::net::SocketAddr = "127.0.0.1:3".parse().unwrap();
            (Addr::from(local), Addr::from(remote))
        };
        table.insert(key(), entry(1), Instant::now()).unwrap();
        table
            .insert(other.clone(), entry_at(2, &other, None), Instant::now())
            .unwrap();
        table.set_closing(&other, 2);
        table.set_lingering(&other, 2);
        let min = Duration::from_secs(2);
        // At once: the lingering one, not the open one (quiet for too short).
        assert_eq!(table.shed_idle(Instant::now(), min), Some(Shed::Lingering));
        assert_eq!(table.held(), 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            table.shed_idle(Instant::now(), min).is_none(),
            "quiet for too short"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            table.shed_idle(Instant::now(), min),
            Some(Shed::Open),
            "quiet long enough"
        );
        assert_eq!(table.held(), 0);
        table.remove(&other, 2);
        table.remove(&key(), 1);
        assert_eq!((table.len(), table.held()), (0, 0));
    }
}
