//! What a handle asks of its connection's driver, in the order issued.

use futures_util::future::BoxFuture;

use crate::error::Error;
use crate::framer::{AnyDecoder, AnyEncoder};
use crate::tendril::ReplyOrder;
use crate::wrap::BoxIo;

/// A wrapper for a live connection, type-erased: called with the connection's stream
/// once everything queued before it is flushed.
pub(crate) type LiveWrap =
    Box<dyn FnOnce(BoxIo) -> BoxFuture<'static, Result<BoxIo, Error>> + Send>;

/// A command. `call` is the call (of the same connection) that issued it, if any: the
/// command then takes effect only once that call's reply is written.
pub(crate) enum Command<In, Out> {
    /// An outbound frame.
    Frame(Out),
    /// A receive framer for the next frame decoded (never waits for a reply: it does
    /// not touch what is written).
    SetRecv(Box<AnyDecoder<In>>),
    SetSend {
        framer: Box<AnyEncoder<Out>>,
        call: Option<u64>,
    },
    Wrap {
        wrapper: LiveWrap,
        call: Option<u64>,
    },
    /// How many inbound frames may be in calls at once, and the order of their
    /// replies, from the next frame decoded on.
    Pipelining {
        max_in_flight: usize,
        order: ReplyOrder,
    },
    /// Close after what is queued before it; with an error, the close reason is that
    /// error. Not counted against the queue's bound.
    Close {
        error: Option<Error>,
        call: Option<u64>,
    },
}

impl<In, Out> Command<In, Out> {
    /// The call whose reply must be written before this command takes effect.
    #[inline]
    pub(crate) fn waits_for(&self) -> Option<u64> {
        match self {
            Command::Frame(_) | Command::SetRecv(_) | Command::Pipelining { .. } => None,
            Command::SetSend { call, .. }
            | Command::Wrap { call, .. }
            | Command::Close { call, .. } => *call,
        }
    }

    /// True if the command holds room in the queue's bound (all but the close).
    #[inline]
    pub(crate) fn is_counted(&self) -> bool {
        !matches!(self, Command::Close { .. })
    }
}
