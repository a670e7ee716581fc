//! The receive loop's map of UDP peers, and which ones to shed under pressure.
//!
//! Fresh source ports are normal (a DNS resolver uses one per query), so when the map
//! is full a newcomer is not simply refused: a peer in a one-datagram exchange that has
//! been quiet for a while (a finished query) is shed to make room, the way Linux
//! conntrack gives "unreplied" UDP flows a shorter timeout than "assured" ones. A peer
//! that sends a second datagram within `quiet` of the one before is in a conversation
//! and is not pushed out; one that sends again only after a quiet gap of `quiet` or more
//! starts a new one-datagram exchange (a source port reused for another query is the
//! same peer, and must not be promoted by the reuse). A flood of new sources therefore
//! only ever sheds one-shot exchanges, the oldest first: the candidates are a
//! [`ShedQueue`] in the order the exchanges began.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::shed::{ShedQueue, Verdict};

/// Sheds a peer's connection (its Tendril's `shed`), type-erased.
pub(crate) type Shed = Box<dyn Fn() + Send + Sync>;

/// A tracked peer.
pub(crate) struct Peer {
    inbound: mpsc::Sender<BytesMut>,
    /// Sheds its connection (none for a peer this side connected to, which is never
    /// shed).
    shed: Option<Shed>,
    /// Which of the connections at this address this entry is.
    generation: u64,
    /// In a conversation (a second datagram came soon after the one before, or this
    /// side connected to it): not shed.
    conversing: bool,
    /// When its last datagram came.
    last_seen: Instant,
}

/// A peer in a one-datagram exchange, queued for shedding: stale once the peer sent
/// again (its `last_seen` moved) or left (its generation is gone).
struct Candidate {
    addr: SocketAddr,
    generation: u64,
    seen: Instant,
}

pub(crate) struct Peers {
    map: HashMap<SocketAddr, Peer>,
    /// One-datagram exchanges, oldest first (stale entries are dropped when they come
    /// up, and compacted away when they outnumber the peers).
    fresh: ShedQueue<Candidate>,
    /// How long a one-datagram peer must have been quiet to be shed (`None`: never);
    /// the longest gap between datagrams of one conversation.
    quiet: Option<Duration>,
}

/// What to do with a datagram from a new source when the map is full.
pub(crate) enum Room {
    /// Room was made: this peer left the map (see [`Peer::shed`]).
    Shed(Peer),
    /// No peer may be shed now.
    Full,
}

/// Where a datagram for a known or unknown source went.
pub(crate) enum Delivery {
    /// Queued for its peer.
    Delivered,
    /// Its peer's queue was full: dropped.
    QueueFull,
    /// No live peer at that address (or its connection ended): a new contact.
    NewContact(BytesMut),
}

impl Peer {
    /// Sheds its connection (it finishes what it has in flight, then closes as shed),
    /// then ends its input: told first, so that it knows why its input ended.
    pub(crate) fn shed(self) {
        if let Some(shed) = &self.shed {
            shed();
        }
        drop(self.inbound);
    }
}

impl Peers {
    pub(crate) fn new(quiet: Option<Duration>) -> Self {
        Peers {
            map: HashMap::new(),
            fresh: ShedQueue::default(),
            quiet,
        }
    }

    /// The gap after which a peer's next datagram starts a new exchange.
    fn gap(&self) -> Duration {
        self.quiet.unwrap_or(Duration::MAX)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Hands `datagram` to the peer at `addr`, if there is one, and notes that it
    /// spoke (one map lookup).
    pub(crate) fn deliver(
        &mut self,
        addr: SocketAddr,
        datagram: BytesMut,
        now: Instant,
    ) -> Delivery {
        let gap = self.gap();
        let Some(peer) = self.map.get_mut(&addr) else {
            return Delivery::NewContact(datagram);
        };
        let delivery = match peer.inbound.try_send(datagram) {
            Ok(()) => Delivery::Delivered,
            Err(mpsc::error::TrySendError::Full(_)) => Delivery::QueueFull,
            Err(mpsc::error::TrySendError::Closed(datagram)) => {
                // That peer's connection ended: this is a new contact.
                self.map.remove(&addr);
                return Delivery::NewContact(datagram);
            }
        };
        if peer.shed.is_some() && now.duration_since(peer.last_seen) >= gap {
            // After a quiet gap: a new one-datagram exchange.
            peer.conversing = false;
            self.fresh.push_back(Candidate {
                addr,
                generation: peer.generation,
                seen: now,
            });
        } else {
            peer.conversing = true;
        }
        peer.last_seen = now;
        self.compact();
        delivery
    }

    /// Adds a peer. One that came on its own (with `shed`: its first datagram is on
    /// the way) may be shed; one this side connected to never is.
    pub(crate) fn insert(
        &mut self,
        addr: SocketAddr,
        inbound: mpsc::Sender<BytesMut>,
        shed: Option<Shed>,
        generation: u64,
        now: Instant,
    ) {
        let connected = shed.is_none();
        if !connected {
            self.fresh.push_back(Candidate {
                addr,
                generation,
                seen: now,
            });
        }
        let peer = Peer {
            inbound,
            shed,
            generation,
            conversing: connected,
            last_seen: now,
        };
        self.map.insert(addr, peer);
        self.compact();
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

    /// Whether `candidate` still stands for a peer that may be shed.
    fn valid(map: &HashMap<SocketAddr, Peer>, candidate: &Candidate) -> bool {
        map.get(&candidate.addr).is_some_and(|peer| {
            peer.generation == candidate.generation
                && !peer.conversing
                && peer.last_seen == candidate.seen
        })
    }

    /// Drops stale candidates once they outnumber the peers, so that the queue stays
    /// within twice the map whether or not the map ever fills (amortised O(1)).
    fn compact(&mut self) {
        let map = &self.map;
        self.fresh
            .compact(map.len(), |candidate| !Self::valid(map, candidate));
    }

    /// Makes room for a newcomer: sheds the oldest one-datagram peer that has been
    /// quiet long enough. Amortised O(1): stale queue entries are dropped as found.
    pub(crate) fn make_room(&mut self, now: Instant) -> Room {
        let Some(quiet) = self.quiet else {
            return Room::Full;
        };
        let map = &self.map;
        let shed = self.fresh.shed_first(|candidate| {
            if !Self::valid(map, candidate) {
                Verdict::Stale
            } else if now.duration_since(candidate.seen) < quiet {
                // The oldest candidate is still in its exchange: so are the others.
                Verdict::NotYet
            } else {
                Verdict::Shed
            }
        });
        match shed.and_then(|candidate| self.map.remove(&candidate.addr)) {
            Some(peer) => Room::Shed(peer),
            None => Room::Full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Delivery, Peers, Room, Shed};
    use bytes::BytesMut;
    use std::time::Duration;
    use tokio::time::Instant;

    fn addr(port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Adds a peer; its queue lives as long as the returned receiver.
    fn add(
        peers: &mut Peers,
        port: u16,
        connected: bool,
        now: Instant,
    ) -> tokio::sync::mpsc::Receiver<BytesMut> {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let shed = (!connected).then(|| Box::new(|| {}) as Shed);
        peers.insert(addr(port), tx, shed, u64::from(port), now);
        rx
    }

    #[test]
    fn only_quiet_one_datagram_peers_are_shed_oldest_first() {
        let start = Instant::now();
        let mut peers = Peers::new(Some(Duration::from_secs(1)));
        let _queues = [
            add(&mut peers, 1, false, start),
            add(&mut peers, 2, true, start),
            add(&mut peers, 3, false, start),
        ];
        // Too early: nobody has been quiet long enough.
        assert!(matches!(peers.make_room(start), Room::Full));
        // Peer 1 talks again soon: in a conversation now.
        let soon = start + Duration::from_millis(500);
        assert!(matches!(
            peers.deliver(addr(1), BytesMut::new(), soon),
            Delivery::Delivered
        ));
        let later = start + Duration::from_secs(2);
        assert!(matches!(peers.make_room(later), Room::Shed(_)));
        assert!(
            !peers.map.contains_key(&addr(3)),
            "peer 3 was the quiet one"
        );
        // Peer 1 (conversing) and peer 2 (connected to) are not shed.
        assert!(matches!(
            peers.make_room(later + Duration::from_secs(60)),
            Room::Full
        ));
        assert_eq!(peers.len(), 2);
    }

    #[test]
    fn a_departure_of_an_older_generation_keeps_the_newer_peer() {
        let now = Instant::now();
        let mut peers = Peers::new(Some(Duration::from_secs(1)));
        let _queue = add(&mut peers, 7, false, now);
        peers.departed(addr(7), 999);
        assert_eq!(peers.len(), 1);
        peers.departed(addr(7), 7);
        assert_eq!(peers.len(), 0);
    }

    #[test]
    fn a_peer_that_speaks_again_after_a_quiet_gap_starts_a_new_exchange() {
        let start = Instant::now();
        let mut peers = Peers::new(Some(Duration::from_secs(1)));
        let _queue = add(&mut peers, 1, false, start);
        // A source port reused for another query, two seconds later.
        let again = start + Duration::from_secs(2);
        assert!(matches!(
            peers.deliver(addr(1), BytesMut::new(), again),
            Delivery::Delivered
        ));
        // Not promoted by the reuse: shed once quiet again.
        assert!(matches!(peers.make_room(again), Room::Full));
        let quiet = again + Duration::from_secs(1);
        assert!(matches!(peers.make_room(quiet), Room::Shed(_)));
        assert_eq!(peers.len(), 0);
    }

    #[test]
    fn the_candidate_queue_stays_bounded_without_pressure() {
        let mut now = Instant::now();
        let mut peers = Peers::new(Some(Duration::from_secs(1)));
        for round in 0..10_000u16 {
            let _queue = add(&mut peers, round, false, now);
            peers.departed(addr(round), u64::from(round));
            now += Duration::from_millis(1);
        }
        assert_eq!(peers.len(), 0);
        assert!(peers.fresh.len() <= 65, "{}", peers.fresh.len());
    }

    #[test]
    fn a_closed_queue_makes_a_new_contact() {
        let now = Instant::now();
        let mut peers = Peers::new(Some(Duration::from_secs(1)));
        drop(add(&mut peers, 9, false, now));
        assert!(matches!(
            peers.deliver(addr(9), BytesMut::new(), now),
            Delivery::NewContact(_)
        ));
        assert_eq!(peers.len(), 0);
    }
}
