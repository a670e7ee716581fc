//! What a handle asks of its connection's driver, in the order issued.

use futures_util::future::BoxFuture;

use crate::error::Error;
use crate::framer::{BoxDecoder, BoxEncoder};
use crate::wrap::BoxIo;

/// A wrapper for a live connection, type-erased: called with the connection's stream
/// once everything queued before it is flushed.
pub(crate) type LiveWrap =
    Box<dyn FnOnce(BoxIo) -> BoxFuture<'static, Result<BoxIo, Error>> + Send>;

pub(crate) enum Command<In, Out> {
    /// An outbound frame (holds one permit of the outbound queue).
    Frame(Out),
    SetRecv(BoxDecoder<In>),
    SetSend(BoxEncoder<Out>),
    Close,
    Wrap(LiveWrap),
    /// From the manager: stop reading and finish (graceful), or close now.
    Shutdown {
        graceful: bool,
    },
}
