//! Per-connection bounds and behaviour.

use std::time::Duration;

/// The order in which a connection writes the replies of pipelined calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplyOrder {
    /// Each reply after the replies to every earlier frame (the default): what a
    /// protocol whose replies carry no tag needs (SMTP, Redis, HTTP/1.1 pipelining).
    #[default]
    Request,
    /// Each reply as soon as its call completes, so a fast request is not held behind
    /// a slow one: for protocols whose replies say what they answer (DNS over TCP per
    /// RFC 7766, multiplexed RPC with request ids).
    Completion,
}

/// Bounds and behaviour of each connection of a manager.
///
/// Every bound has a default that keeps a slow or hostile peer from growing memory
/// without limit:
///
/// | setting | default | guards against |
/// |---|---|---|
/// | `outbound_queue` | 1024 commands | an application pushing to a peer that does not read |
/// | `outbound_bytes` | 256 KiB | (room for more small frames beyond `outbound_queue`) |
/// | `max_in_flight` | 1 | (1 = frames delivered one at a time; more = pipelining) |
/// | `reply_order` | request order | (completion order for tagged protocols) |
/// | `call_timeout` | none | an application call that never completes |
/// | `idle_timeout` | none (TCP) | peers that hold a connection open and say nothing |
/// | `linger` | 5 s | a close waiting forever to flush to a peer that does not read |
/// | `write_stall_timeout` | 60 s | a peer that sends (or pipelines) but never reads |
/// | `read_rate` | 1 KiB per 10 s | a peer trickling a frame (slowloris) |
///
/// The maximum frame length is the framer's own (see [`framer`](crate::framer)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Commands a connection's handles may queue before they wait (`send_frame`) or
    /// fail (`try_send_frame`, framer switches, `wrap`): frames to send and control
    /// commands alike, counted until the driver has applied them. A close always has
    /// room.
    pub outbound_queue: usize,
    /// Frames beyond `outbound_queue` are still taken while the frames queued hold at
    /// most this many bytes (frames of known size: `Bytes`, `Vec<u8>`, `String`, ...),
    /// charged to the memory budget like every queued frame. A burst of small frames
    /// pushed to a connection whose task has not run yet (a chat's broadcast) is not a
    /// sign of a slow reader; a reader that stops reading still fills it, and one
    /// whose output does not move is closed by `write_stall_timeout`.
    pub outbound_bytes: usize,
    /// Inbound frames handed to the application before earlier ones are answered.
    /// With 1 (the default) the next frame is decoded only after the previous reply
    /// was written, so a framer switch made while handling a frame applies to the very
    /// next one. Larger values pipeline: see [`reply_order`](Self::reply_order).
    pub max_in_flight: usize,
    /// The order of the replies of pipelined calls.
    pub reply_order: ReplyOrder,
    /// Longest time an application call may run. In request order a call over it
    /// closes the connection (the peer expects a reply for every request, in order:
    /// skipping one would shift every later answer); in completion order only that
    /// call is dropped, without a reply, and counted (the peer matches replies by
    /// tag and times the request out itself). Costs nothing per frame: one timer per
    /// connection, re-armed lazily.
    pub call_timeout: Option<Duration>,
    /// Close a connection after this long without a frame in either direction.
    pub idle_timeout: Option<Duration>,
    /// How long a closing connection may take to flush what was queued before it.
    pub linger: Duration,
    /// Close a connection whose output has been pending this long without the peer
    /// taking a byte of it ([`WriteStalled`](super::WriteStalled)). Any progress, even
    /// one byte, restarts the count, so a slow reader is not cut off, only one that
    /// stopped; nothing is measured per frame (the progress is looked at when the
    /// connection's one timer fires). `None` turns it off.
    pub write_stall_timeout: Option<Duration>,
    /// The least a frame being assembled must grow by, per window: when the decoder
    /// has asked for more bytes, at least `min_bytes` of them must arrive within each
    /// `window`, or the connection closes ([`ReadTooSlow`](super::ReadTooSlow)). A
    /// connection with nothing buffered is not judged (that is the idle timeout's
    /// business). `None` turns it off.
    pub read_rate: Option<ReadRate>,
}

/// The minimum growth of a frame being assembled: see
/// [`ConnectionConfig::read_rate`]. The default, 1 KiB per 10 s, closes a peer that
/// trickles a byte a second within 10 to 20 s, and keeps any link faster than about
/// 100 bytes a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRate {
    /// The bytes that must arrive per window.
    pub min_bytes: u64,
    /// The window (also the grace period before the first judgement).
    pub window: Duration,
}

impl Default for ReadRate {
    fn default() -> Self {
        ReadRate {
            min_bytes: 1024,
            window: Duration::from_secs(10),
        }
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            outbound_queue: 1024,
            outbound_bytes: 256 * 1024,
            max_in_flight: 1,
            reply_order: ReplyOrder::Request,
            call_timeout: None,
            idle_timeout: None,
            linger: Duration::from_secs(5),
            write_stall_timeout: Some(Duration::from_secs(60)),
            read_rate: Some(ReadRate::default()),
        }
    }
}
