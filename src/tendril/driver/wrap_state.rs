//! [`WrapState`]: where a live wrap (STARTTLS) is.

use futures_util::future::BoxFuture;

use crate::error::Error;
use crate::tendril::command::LiveWrap;
use crate::wrap::BoxIo;

/// The steps of a live wrap.
pub(crate) enum WrapState {
    /// Flushing what was written before the wrap.
    Flushing(LiveWrap),
    /// The wrapper has the stream.
    Running(BoxFuture<'static, Result<BoxIo, Error>>),
}
