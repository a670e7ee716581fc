//! [`Builder`]: a manager's options before it is built, the connection settings every
//! transport shares written once, the transport's own options beside them.

use std::time::Duration;

use crate::tendril::{ConnectionConfig, ReplyOrder};

/// A manager's options before it is built: the bounds and connection settings every
/// transport has (these setters), and the transport's own options `O`, set through the
/// transport's methods on [`TcpBuilder`](super::TcpBuilder),
/// [`UdpBuilder`](super::UdpBuilder) and `UnixBuilder`. Setters take `&mut self`, so a
/// builder is configured in one expression or step by step, and `build` may be called
/// more than once; no setter resets another.
#[derive(Debug, Clone)]
pub struct Builder<O> {
    pub(crate) max_connections: usize,
    pub(crate) connection: ConnectionConfig,
    pub(crate) options: O,
}

impl<O> Builder<O> {
    pub(crate) fn with(max_connections: usize, connection: ConnectionConfig, options: O) -> Self {
        Builder {
            max_connections,
            connection,
            options,
        }
    }

    /// Connections held at once, closing ones included (default 10,000; for UDP,
    /// peers, default 65,536). Connections accepted beyond it are closed at once and
    /// counted as `refused`.
    pub fn max_connections(&mut self, max: usize) -> &mut Self {
        self.max_connections = max;
        self
    }

    /// Replaces every per-connection setting with `config` (the setters below change
    /// one at a time).
    pub fn connection(&mut self, config: ConnectionConfig) -> &mut Self {
        self.connection = config;
        self
    }

    /// Frames and commands an application may queue per connection (default 1024).
    pub fn outbound_queue(&mut self, commands: usize) -> &mut Self {
        self.connection.outbound_queue = commands.max(1);
        self
    }

    /// Frames handed to the application before earlier ones are answered (default 1:
    /// one at a time). Replies keep request order unless
    /// [`reply_order`](Self::reply_order) says otherwise.
    pub fn max_in_flight(&mut self, frames: usize) -> &mut Self {
        self.connection.max_in_flight = frames.max(1);
        self
    }

    /// The order of the replies of pipelined calls (default request order).
    pub fn reply_order(&mut self, order: ReplyOrder) -> &mut Self {
        self.connection.reply_order = order;
        self
    }

    /// Longest time an application call may run (default: no limit); see
    /// [`ConnectionConfig::call_timeout`].
    pub fn call_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.connection.call_timeout = timeout;
        self
    }

    /// Close connections after this long without a frame (default: never for streams;
    /// 60 s for UDP peers, which are then evicted).
    pub fn idle_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.connection.idle_timeout = timeout;
        self
    }

    /// How long a closing connection may take to flush (default 5 s).
    pub fn linger(&mut self, linger: Duration) -> &mut Self {
        self.connection.linger = linger;
        self
    }

    /// The per-connection settings as they stand.
    pub fn connection_config(&self) -> &ConnectionConfig {
        &self.connection
    }
}
