//! [`Builder`]: a manager's options before it is built, the connection settings every
//! transport shares written once, the transport's own options beside them.

use std::time::Duration;

use super::{Bounds, SourceRate};
use crate::tendril::{ConnectionConfig, ReadRate, ReplyOrder};

/// A manager's options before it is built: the bounds and connection settings every
/// transport has (these setters), and the transport's own options `O` (a stream
/// transport such as [`Tcp`](super::Tcp), UDP's [`UdpOptions`](super::UdpOptions)),
/// set through the transport's methods on [`TcpBuilder`](super::TcpBuilder),
/// [`UdpBuilder`](super::UdpBuilder) and `UnixBuilder`. Setters take the builder by
/// value and return it, as every builder of the crate does (`let b =
/// TcpManager::builder(addr).max_connections(100);` keeps `b`); step by step it is
/// `b = b.idle_timeout(..)`. `build` takes `&self`, so one builder can build several
/// managers. Every setting has its own setter and no setter resets another: the
/// transport's defaults (UDP's 60 s idle timeout) hold unless changed one by one.
///
/// A plug-in transport makes one with [`new`](Self::new) and builds its manager from
/// [`bounds`](Self::bounds), [`connection_config`](Self::connection_config) and
/// [`options`](Self::options); options of its own get setters through a trait of its
/// own on `Builder<ItsOptions>`.
#[derive(Debug, Clone)]
#[must_use = "a builder setter returns the updated builder"]
pub struct Builder<O> {
    pub(crate) bounds: Bounds,
    pub(crate) connection: ConnectionConfig,
    pub(crate) options: O,
}

/// How a transport's options become its manager: what gives a [`Builder`] its
/// [`build`](Builder::build). Every [`StreamTransport`](super::StreamTransport) has it
/// (its manager is a [`StreamManager`](super::StreamManager)), UDP's options too; a
/// plug-in implements it for its own options.
pub trait BuildManager: Sized {
    /// The manager built.
    type Manager;

    /// Creates the manager `builder` describes.
    fn build(builder: &Builder<Self>) -> Self::Manager;
}

impl<O: BuildManager> Builder<O> {
    /// Creates the manager (nothing is bound until it is started).
    pub fn build(&self) -> O::Manager {
        O::build(self)
    }
}

impl<O> Builder<O> {
    /// A builder for a transport's `options`, starting from `bounds` and
    /// `connection` (the transport's defaults).
    pub fn new(options: O, bounds: Bounds, connection: ConnectionConfig) -> Self {
        Builder {
            bounds,
            connection,
            options,
        }
    }

    /// Connections held at once, closing ones included (default 10,000; for UDP,
    /// peers, default 65,536). When they are all held, a stream newcomer from a source
    /// below its fair share displaces a connection of the source holding the most, and
    /// one from a source at its share is refused (see
    /// [`max_per_source`](Self::max_per_source)); otherwise a newcomer sheds the
    /// connection idle longest if there is one (see
    /// [`shed_idle_after`](Self::shed_idle_after)); otherwise it is closed at once and
    /// counted as `refused` (UDP: its datagram is dropped and counted). A stream
    /// listener's table is full earlier where the open-file limit leaves room for
    /// fewer (see [`Engine::admit`](super::Engine::admit)).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.bounds.max_connections = max;
        self
    }

    /// The bytes all connections' buffers may hold together (default 256 MiB), beyond
    /// 16 KiB of read buffer and 64 KiB of write buffer each (those are bounded by
    /// `max_connections`): partial frames, input read ahead, replies being written.
    /// While there is room, any connection may grow up to its framer's frame limit.
    /// Reads of more than 16 KiB at once for a bulk transfer of large frames (up to
    /// 1 MiB, see the README's benchmarks) are taken only while the budget is at most
    /// half used, so they never bring it under pressure. When it runs short, none may hold more than its fair share (the budget divided
    /// among the connections holding part of it): one asking to grow past it is
    /// closed, and when one within its share needs room, the connection holding the
    /// most is closed for it. Either closes with [`MemoryBudget`](crate::MemoryBudget)
    /// as the cause ([`Error::is_limit`](crate::Error::is_limit)), is counted in
    /// `Stats::shed_memory` and logged once; the others keep being served. Stream transports;
    /// UDP peers' buffers are bounded by their queues. Frames an application queues
    /// through a [`Tendril`](crate::Tendril) count too, beyond 16 KiB queued per
    /// connection, when their size is known (`Bytes`, `BytesMut`, `Vec<u8>`,
    /// `String`, `Box<[u8]>`; other frame types are bounded by
    /// [`outbound_queue`](Self::outbound_queue) alone until encoded): a push that puts
    /// a connection over its share while the budget is short fails (`send_frame` with
    /// [`Error::is_limit`](crate::Error::is_limit), `try_send_frame` as `Closed`) and
    /// the connection is closed. The queued frames are a connection's second account:
    /// a connection with both buffered input and queued frames counts twice in the
    /// number the budget is shared among.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.bounds.memory_budget = bytes.max(1);
        self
    }

    /// With `max_connections` held, a newcomer sheds the connection that has been
    /// idle longest if it has been idle for at least this long (`None`: newcomers are
    /// refused). The shed connection closes as
    /// [`CloseReason::Shed`](crate::CloseReason::Shed), counted in `Stats::shed_idle`;
    /// an active connection is never shed. This makes room under pressure even with no
    /// idle timeout, so that a full table does not lock newcomers out.
    ///
    /// - Streams (default 2 s): idle is no traffic, no call in flight, nothing
    ///   waiting to be written; a connection that closed and only lingers for its
    ///   peer's end goes first. It closes at once.
    /// - UDP (default 1 s): only a peer in a one-datagram exchange that has been quiet
    ///   this long is shed, the oldest first; a peer whose next datagram comes sooner
    ///   than this is in a conversation and is never shed, and one that speaks again
    ///   only after a longer silence starts a new one-datagram exchange (a source port
    ///   reused for another query must not make a peer permanent). Its calls in
    ///   flight still finish and their replies go out. Raise it for protocols whose
    ///   sessions have long pauses.
    pub fn shed_idle_after(mut self, after: Option<Duration>) -> Self {
        self.bounds.shed_idle_after = after;
        self
    }

    /// The most connections one source may hold at once (default `None`: no limit;
    /// clients behind one NAT share an address). For UDP, the peers it may have
    /// tracked. A source is the peer's IP address (IPv6 grouped by
    /// [`ipv6_source_prefix`](Self::ipv6_source_prefix)), behind the PROXY protocol
    /// the address in the header, for a Unix socket the peer's uid. A newcomer
    /// beyond it is refused (a stream closed at once, a UDP datagram from a new peer
    /// dropped and the peer not tracked), counted in `Stats::refused_source`, with
    /// one `info` event per source every 10 s at most; other sources are
    /// unaffected, and a slot freed is usable at once.
    ///
    /// Independently of this limit, a full table is shared fairly: with other sources
    /// holding connections, a newcomer whose source already holds its share of
    /// `max_connections` (divided among the sources) is refused, and one below it
    /// displaces a connection of the source holding the most (see
    /// [`Engine::admit`](super::Engine::admit)).
    pub fn max_per_source(mut self, max: Option<usize>) -> Self {
        self.bounds.per_source.max = max.map(|max| max.max(1));
        self
    }

    /// The rate of new connections (UDP: new peers) one source may open (default
    /// `None`: no limit): a token bucket per source, refused as for
    /// [`max_per_source`](Self::max_per_source).
    pub fn source_rate(mut self, rate: Option<SourceRate>) -> Self {
        self.bounds.per_source.rate = rate;
        self
    }

    /// IPv6 sources are grouped by this many leading bits (default 64, at most 128):
    /// one host usually holds a whole /64.
    pub fn ipv6_source_prefix(mut self, bits: u8) -> Self {
        self.bounds.per_source.ipv6_prefix = bits.min(128);
        self
    }

    /// Frames and commands an application may queue per connection (default 1024).
    pub fn outbound_queue(mut self, commands: usize) -> Self {
        self.connection.outbound_queue = commands.max(1);
        self
    }

    /// Bytes of frames an application may still queue beyond `outbound_queue`
    /// (default 256 KiB; 0: the count alone bounds the queue). See
    /// [`ConnectionConfig::outbound_bytes`].
    pub fn outbound_bytes(mut self, bytes: usize) -> Self {
        self.connection.outbound_bytes = bytes;
        self
    }

    /// Frames handed to the application before earlier ones are answered (default 1:
    /// one at a time). Replies keep request order unless
    /// [`reply_order`](Self::reply_order) says otherwise.
    pub fn max_in_flight(mut self, frames: usize) -> Self {
        self.connection.max_in_flight = frames.max(1);
        self
    }

    /// The order of the replies of pipelined calls (default request order).
    pub fn reply_order(mut self, order: ReplyOrder) -> Self {
        self.connection.reply_order = order;
        self
    }

    /// Longest time an application call may run (default: no limit); see
    /// [`ConnectionConfig::call_timeout`].
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connection.call_timeout = timeout;
        self
    }

    /// Close connections after this long without a frame (default: never for streams;
    /// 60 s for UDP peers, which are then closed).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connection.idle_timeout = timeout;
        self
    }

    /// How long a closing connection may take to flush (default 5 s).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.connection.linger = linger;
        self
    }

    /// Close a connection whose pending output the peer has not read a byte of for
    /// this long (default 60 s; `None`: never). See
    /// [`ConnectionConfig::write_stall_timeout`].
    pub fn write_stall_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connection.write_stall_timeout = timeout;
        self
    }

    /// The least a frame being assembled must grow by per window (default 1 KiB per
    /// 10 s; `None`: no guard). See [`ConnectionConfig::read_rate`].
    pub fn read_rate(mut self, rate: Option<ReadRate>) -> Self {
        self.connection.read_rate = rate;
        self
    }

    /// The per-connection settings as they stand (read only: each has its setter).
    pub fn connection_config(&self) -> &ConnectionConfig {
        &self.connection
    }

    /// The bounds across connections as they stand.
    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// The transport's own options.
    pub fn options(&self) -> &O {
        &self.options
    }
}
