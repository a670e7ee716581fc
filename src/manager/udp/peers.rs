//! The receive loop's map of UDP peers, and which ones to reclaim under pressure.
//!
//! Fresh source ports are normal (a DNS resolver uses one per query), so when the map
//! is full a newcomer is not simply refused: a peer that sent a single datagram and
//! has been quiet for a while (a finished one-shot exchange) is reclaimed to make room,
//! the way Linux conntrack gives "unreplied" UDP flows a shorter timeout than
//! "assured" ones. A peer that sent more than one datagram is established and never
//! pushed out: a flood of new sources only ever displaces other one-shot sources, the
//! oldest first.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::tendril::Control;

pub(crate) struct Peer {
    pub(crate) inbound: mpsc::Sender<BytesMut>,
    /// Its connection, to reclaim it (none for a peer this side connected to).
    pub(crate) control: Option<Arc<dyn Control>>,
    /// Which of the connections at this address this entry is.
    pub(crate) generation: u64,
    /// Datagrams routed to it, up to 2 (more only says "established").
    datagrams: u8,
    /// When its last datagram came.
    last_seen: Instant,
}

pub(crate) struct Peers {
    map: HashMap<SocketAddr, Peer>,
    /// Peers that came with one datagram, oldest first (entries may be stale: a peer
    /// that sent more, or left, is skipped when found).
    fresh: VecDeque<(SocketAddr, u64)>,
    /// How long a one-datagram peer must have been quiet to be reclaimed.
    quiet: Duration,
}

/// What to do with a datagram from a new source when the map is full.
pub(crate) enum Room {
    /// Room was made: this peer was reclaimed.
    Reclaimed(Option<Arc<dyn Control>>),
    /// No peer may be reclaimed now.
    Full,
}

impl Peers {
    pub(crate) fn new(quiet: Duration) -> Self {
        Peers {
            map: HashMap::new(),
            fresh: VecDeque::new(),
            quiet,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Peer> {
        self.map.get_mut(addr)
    }

    /// Notes a datagram routed to `peer`.
    pub(crate) fn seen(peer: &mut Peer, now: Instant) {
        peer.datagrams = peer.datagrams.saturating_add(1).min(2);
        peer.last_seen = now;
    }

    /// Adds a peer. One that came on its own (`established` false: its first datagram
    /// is on the way) may be reclaimed; one this side connected to never is.
    pub(crate) fn insert(
        &mut self,
        addr: SocketAddr,
        inbound: mpsc::Sender<BytesMut>,
        control: Option<Arc<dyn Control>>,
        generation: u64,
        established: bool,
        now: Instant,
    ) {
        let peer = Peer {
            inbound,
            control,
            generation,
            datagrams: if established { 2 } else { 1 },
            last_seen: now,
        };
        if !established {
            self.fresh.push_back((addr, generation));
        }
        self.map.insert(addr, peer);
    }

    /// Forgets the peer at `addr` if it is still the one of `generation` (its
    /// connection ended).
    pub(crate) fn departed(&mut self, addr: SocketAddr, generation: u64) {
        if self
            .map
            .get(&addr)
            .is_some_and(|peer| peer.generation == generation)
        {
            self.map.remove(&addr);
        }
    }

    /// Forgets the peer at `addr`, whatever its generation.
    pub(crate) fn remove(&mut self, addr: &SocketAddr) {
        self.map.remove(addr);
    }

    /// Makes room for a newcomer: reclaims the oldest one-datagram peer that has been
    /// quiet long enough. Amortised O(1): stale queue entries are dropped as found.
    pub(crate) fn make_room(&mut self, now: Instant) -> Room {
        while let Some(&(addr, generation)) = self.fresh.front() {
            let Some(peer) = self.map.get(&addr).filter(|p| p.generation == generation) else {
                self.fresh.pop_front();
                continue;
            };
            if peer.datagrams > 1 {
                // Established since: never reclaimed.
                self.fresh.pop_front();
                continue;
            }
            if now.duration_since(peer.last_seen) < self.quiet {
                // The oldest candidate is still in its exchange: so are the others.
                return Room::Full;
            }
            self.fresh.pop_front();
            if let Some(peer) = self.map.remove(&addr) {
                return Room::Reclaimed(peer.control);
            }
        }
        Room::Full
    }
}

#[cfg(test)]
mod tests {
    use super::{Peers, Room};
    use crate::tendril::traffic::Totals;
    use crate::tendril::Control;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    struct Nothing;

    impl Control for Nothing {
        fn shutdown(&self, _graceful: bool) {}
        fn reclaim(&self) {}
        fn traffic(&self) -> Totals {
            Totals::default()
        }
    }

    fn addr(port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn add(peers: &mut Peers, port: u16, established: bool, now: Instant) {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let control: Arc<dyn Control> = Arc::new(Nothing);
        peers.insert(
            addr(port),
            tx,
            Some(control),
            u64::from(port),
            established,
            now,
        );
    }

    #[test]
    fn only_quiet_one_datagram_peers_are_reclaimed_oldest_first() {
        let start = Instant::now();
        let mut peers = Peers::new(Duration::from_secs(1));
        add(&mut peers, 1, false, start);
        add(&mut peers, 2, true, start);
        add(&mut peers, 3, false, start);
        // Too early: nobody has been quiet long enough.
        assert!(matches!(peers.make_room(start), Room::Full));
        let later = start + Duration::from_secs(2);
        // Peer 1 talks again: established now.
        Peers::seen(peers.get_mut(&addr(1)).unwrap(), later);
        assert!(matches!(peers.make_room(later), Room::Reclaimed(_)));
        assert!(
            peers.get_mut(&addr(3)).is_none(),
            "peer 3 was the quiet one"
        );
        // Peer 1 (established) and peer 2 (connected to) are never reclaimed.
        assert!(matches!(
            peers.make_room(later + Duration::from_secs(60)),
            Room::Full
        ));
        assert_eq!(peers.len(), 2);
    }

    #[test]
    fn a_departure_of_an_older_generation_keeps_the_newer_peer() {
        let now = Instant::now();
        let mut peers = Peers::new(Duration::from_secs(1));
        add(&mut peers, 7, false, now);
        peers.departed(addr(7), 999);
        assert_eq!(peers.len(), 1);
        peers.departed(addr(7), 7);
        assert_eq!(peers.len(), 0);
    }
}
