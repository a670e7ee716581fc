//! Connections by source: who holds how many, the per-source limits
//! ([`SourceLimits`]), and the shares fair admission compares.
//!
//! A source is the peer's IP address (IPv6 grouped by a prefix, /64 by default: one
//! host usually holds a whole /64), or for a Unix socket the peer's uid. Every
//! connection in the table counts under its source (behind the PROXY protocol, the
//! header's address), whether or not a limit is set: a full table compares the
//! sources' shares to decide who is displaced and who is refused.
//!
//! The map holds the sources holding connections, and, with a rate limit, the ones
//! whose token bucket is not yet full again; it is pruned of the others as it grows,
//! so it stays within about twice the sources that matter.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::tendril::Addr;
use crate::wrap::PeerCredentials;

/// Where connections come from, for the per-source limits and fair admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4([u8; 4]),
    /// An IPv6 address masked to the configured prefix (as bytes: a `u128` would
    /// align every table entry to 16), and the prefix length.
    V6([u8; 16], u8),
    /// A Unix socket peer's user.
    Uid(u32),
}

impl Source {
    /// The source of a connection from `remote` (with its peer credentials, for a
    /// Unix socket), IPv6 addresses grouped by `v6_prefix` bits; `None` for a peer
    /// with neither an IP address nor credentials (stdio, an in-memory stream).
    pub(crate) fn of(
        remote: &Addr,
        peer: Option<&PeerCredentials>,
        v6_prefix: u8,
    ) -> Option<Source> {
        match remote {
            Addr::Inet(addr) => Some(Source::ip(addr.ip(), v6_prefix)),
            Addr::Stream(stream) => Some(Source::ip(stream.peer.ip(), v6_prefix)),
            _ => peer.map(|peer| Source::Uid(peer.uid)),
        }
    }

    fn ip(ip: IpAddr, v6_prefix: u8) -> Source {
        match ip {
            IpAddr::V4(ip) => Source::V4(ip.octets()),
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(ip) => Source::V4(ip.octets()),
                None => {
                    let bits = u32::from(v6_prefix.min(128));
                    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                    let masked = (u128::from(ip) & mask).to_be_bytes();
                    Source::V6(masked, v6_prefix.min(128))
                }
            },
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::V4(octets) => IpAddr::from(*octets).fmt(f),
            Source::V6(bytes, prefix) => write!(f, "{}/{prefix}", Ipv6Addr::from(*bytes)),
            Source::Uid(uid) => write!(f, "uid {uid}"),
        }
    }
}

/// A rate of new connections per source: a token bucket of `burst` tokens refilled at
/// `per_second`; each new connection takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRate {
    /// Tokens added per second (at least 1).
    pub per_second: u32,
    /// Tokens the bucket holds at most: connections a source may open at once after
    /// a pause (at least 1).
    pub burst: u32,
}

impl SourceRate {
    /// `per_second` new connections per source on average, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> Self {
        SourceRate {
            per_second: per_second.max(1),
            burst: burst.max(1),
        }
    }
}

/// What one source may hold and open (see
/// [`Builder::max_per_source`](crate::manager::Builder::max_per_source)). Off by
/// default: clients behind one NAT share an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceLimits {
    /// Connections (UDP: tracked peers) one source may hold at once (`None`: no limit).
    pub max: Option<usize>,
    /// New connections per source (`None`: no limit).
    pub rate: Option<SourceRate>,
    /// IPv6 sources are grouped by this many leading bits (default 64).
    pub ipv6_prefix: u8,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max: None,
            rate: None,
            ipv6_prefix: 64,
        }
    }
}

/// Why a source may not open another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It holds `max_per_source` connections.
    Held(usize),
    /// Its token bucket is empty.
    Rate,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Held(max) => write!(f, "its source holds max_per_source ({max}) connections"),
            Refusal::Rate => f.write_str("its source opens connections faster than source_rate"),
        }
    }
}

/// One source's state.
#[derive(Debug, Default)]
struct State {
    held: usize,
    /// Thousandths of a token.
    tokens: u64,
    /// When `tokens` was last brought up to date (milliseconds, the table's clock).
    refilled: u64,
    /// Refusals since the last log event.
    refused: u64,
    /// When a refusal was last logged.
    logged: Option<u64>,
}

/// A source's refusals are logged at most this often (milliseconds).
const LOG_EVERY_MS: u64 = 10_000;

/// Sources the map may hold beyond twice those holding connections before it prunes.
const SLACK: usize = 4096;

/// The sources of a table's connections.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    limits: SourceLimits,
    map: HashMap<Source, State>,
    /// Sources holding at least one connection.
    holding: usize,
}

impl Sources {
    pub(crate) fn new(limits: SourceLimits) -> Self {
        Sources {
            limits,
            ..Sources::default()
        }
    }

    pub(crate) fn ipv6_prefix(&self) -> u8 {
        self.limits.ipv6_prefix
    }

    /// Brings `state`'s bucket up to `now`; false if the bucket is full again (the
    /// state then carries nothing a fresh one would not).
    fn refill(rate: SourceRate, state: &mut State, now: u64) -> bool {
        let full = u64::from(rate.burst) * 1000;
        let gained = now
            .saturating_sub(state.refilled)
            .saturating_mul(u64::from(rate.per_second));
        state.tokens = state.tokens.saturating_add(gained).min(full);
        state.refilled = now;
        state.tokens < full
    }

    /// Whether `source` may open another connection now, without taking it.
    pub(crate) fn check(&mut self, source: Source, now: u64) -> Result<(), Refusal> {
        let limits = self.limits;
        let Some(state) = self.map.get_mut(&source) else {
            return Ok(());
        };
        if let Some(max) = limits.max {
            if state.held >= max {
                return Err(Refusal::Held(max));
            }
        }
        if let Some(rate) = limits.rate {
            Self::refill(rate, state, now);
            if state.tokens < 1000 {
                return Err(Refusal::Rate);
            }
        }
        Ok(())
    }

    /// Counts a new connection of `source` (taking a token), if the limits allow it.
    pub(crate) fn open(&mut self, source: Source, now: u64) -> Result<(), Refusal> {
        self.check(source, now)?;
        self.prune(now);
        let limits = self.limits;
        let state = self.map.entry(source).or_insert_with(|| State {
            tokens: limits.rate.map_or(0, |rate| u64::from(rate.burst) * 1000),
            refilled: now,
            ..State::default()
        });
        if limits.rate.is_some() {
            state.tokens -= 1000;
        }
        if state.held == 0 {
            self.holding += 1;
        }
        state.held += 1;
        Ok(())
    }

    /// A connection of `source` left the table.
    pub(crate) fn close(&mut self, source: Source, now: u64) {
        let rate = self.limits.rate;
        let Some(state) = self.map.get_mut(&source) else {
            return;
        };
        state.held = state.held.saturating_sub(1);
        if state.held > 0 {
            return;
        }
        self.holding -= 1;
        let refilling = rate.is_some_and(|rate| Self::refill(rate, state, now));
        if !refilling {
            self.map.remove(&source);
        }
    }

    /// Counts a refusal of `source`: the refusals to report if one is due (one log
    /// event per source every 10 s at most).
    pub(crate) fn refused(&mut self, source: Source, now: u64) -> Option<u64> {
        let state = self.map.entry(source).or_default();
        state.refused += 1;
        let due = state
            .logged
            .is_none_or(|at| now.saturating_sub(at) >= LOG_EVERY_MS);
        if !due {
            return None;
        }
        state.logged = Some(now);
        Some(std::mem::take(&mut state.refused))
    }

    /// Connections `source` holds.
    pub(crate) fn held(&self, source: &Source) -> usize {
        self.map.get(source).map_or(0, |state| state.held)
    }

    /// Sources holding connections.
    pub(crate) fn holding(&self) -> usize {
        self.holding
    }

    /// The source holding the most connections, and how many.
    pub(crate) fn top(&self) -> Option<(Source, usize)> {
        self.map
            .iter()
            .filter(|(_, state)| state.held > 0)
            .max_by_key(|(_, state)| state.held)
            .map(|(source, state)| (*source, state.held))
    }

    /// Drops the sources that hold nothing and whose bucket is full again, once the
    /// map holds more than twice the sources holding connections plus some slack;
    /// if that is not enough (a flood of sources each taking a token), every source
    /// holding nothing goes (they are then treated as new: the limit errs lenient).
    fn prune(&mut self, now: u64) {
        if self.map.len() < self.holding.saturating_mul(2) + SLACK {
            return;
        }
        let rate = self.limits.rate;
        self.map.retain(|_, state| {
            state.held > 0 || rate.is_some_and(|rate| Self::refill(rate, state, now))
        });
        if self.map.len() >= self.holding.saturating_mul(2) + SLACK {
            self.map.retain(|_, state| state.held > 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Refusal, Source, SourceLimits, SourceRate, Sources};
    use crate::tendril::Addr;
    use std::net::SocketAddr;

    fn source(addr: &str, prefix: u8) -> Source {
        let addr: SocketAddr = addr.parse().unwrap();
        Source::of(&Addr::from(addr), None, prefix).unwrap()
    }

    #[test]
    fn ipv6_sources_are_grouped_by_prefix_and_mapped_v4_is_v4() {
        assert_eq!(
            source("[2001:db8:1:2:aaaa::1]:1", 64),
            source("[2001:db8:1:2:bbbb::9]:2", 64)
        );
        assert_ne!(
            source("[2001:db8:1:2::1]:1", 64),
            source("[2001:db8:1:3::1]:1", 64)
        );
        assert_eq!(source("[::ffff:10.0.0.1]:1", 64), source("10.0.0.1:5", 64));
        assert_eq!(source("[2001:db8::1]:1", 64).to_string(), "2001:db8::/64");
        assert_ne!(source("[::1]:1", 128), source("[::2]:1", 128));
        assert_eq!(source("[::1]:1", 0), source("[ffff::2]:1", 0));
    }

    #[test]
    fn a_source_at_its_limit_is_refused_until_one_closes() {
        let limits = SourceLimits {
            max: Some(2),
            ..SourceLimits::default()
        };
        let mut sources = Sources::new(limits);
        let a = source("127.0.0.2:1", 64);
        let b = source("127.0.0.3:1", 64);
        assert!(sources.open(a, 0).is_ok());
        assert!(sources.open(a, 0).is_ok());
        assert_eq!(sources.open(a, 0), Err(Refusal::Held(2)));
        assert!(sources.open(b, 0).is_ok());
        assert_eq!(sources.holding(), 2);
        assert_eq!(sources.top(), Some((a, 2)));
        sources.close(a, 0);
        assert!(sources.open(a, 0).is_ok(), "a freed slot is usable at once");
        sources.close(b, 0);
        assert_eq!((sources.holding(), sources.held(&b)), (1, 0));
    }

    #[test]
    fn the_rate_is_a_token_bucket_per_source() {
        let limits = SourceLimits {
            rate: Some(SourceRate::new(10, 3)),
            ..SourceLimits::default()
        };
        let mut sources = Sources::new(limits);
        let a = source("127.0.0.2:1", 64);
        for _ in 0..3 {
            assert!(sources.open(a, 0).is_ok());
            sources.close(a, 0);
        }
        assert_eq!(sources.open(a, 0), Err(Refusal::Rate), "the burst is spent");
        assert!(sources.open(source("127.0.0.3:1", 64), 0).is_ok());
        // A tenth of a second later: one token.
        assert!(sources.open(a, 100).is_ok());
        assert_eq!(sources.open(a, 100), Err(Refusal::Rate));
    }

    #[test]
    fn refusals_are_reported_once_per_interval() {
        let mut sources = Sources::default();
        let a = source("127.0.0.2:1", 64);
        assert_eq!(sources.refused(a, 0), Some(1));
        assert_eq!(sources.refused(a, 5_000), None);
        assert_eq!(sources.refused(a, 9_000), None);
        // The refusals since the last event, this one included.
        assert_eq!(sources.refused(a, 10_000), Some(3));
    }

    #[test]
    fn the_map_stays_bounded_under_a_flood_of_sources() {
        let limits = SourceLimits {
            rate: Some(SourceRate::new(1, 5)),
            ..SourceLimits::default()
        };
        let mut sources = Sources::new(limits);
        for n in 0..50_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n);
            let a = source(&format!("{ip}:1"), 64);
            assert!(sources.open(a, 0).is_ok());
            sources.close(a, 0);
        }
        assert!(sources.map.len() <= super::SLACK, "{}", sources.map.len());
        assert_eq!(sources.holding(), 0);
    }
}
