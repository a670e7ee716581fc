//! What a handle asks of its connection's driver, in the order issued.

use crate::framer::{BoxDecoder, BoxEncoder};

pub(crate) enum Command<In, Out> {
    /// An outbound frame (holds one permit of the outbound queue).
    Frame(Out),
    SetRecv(BoxDecoder<In>),
    SetSend(BoxEncoder<Out>),
    Close,
    /// From the manager: stop reading and finish (graceful), or close now.
    Shutdown {
        graceful: bool,
    },
}
