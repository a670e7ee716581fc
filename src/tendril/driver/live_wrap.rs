//! A live wrap (STARTTLS) as the driver runs it.

use std::task::{Context, Poll};

use super::state::{App, Driver, Frame, Stop};
use super::wrap_state::WrapState;
use crate::error::Error;
use crate::tendril::io::FrameIo;
use crate::tendril::CloseReason;
use crate::wrap::{Io, PlaintextAfterUpgrade};

impl<S: App<In, Out>, In: Frame, Out: Frame, T: FrameIo<In, Out>> Driver<S, In, Out, T> {
    /// Drives a live wrap: flush what was written before it, take the stream out
    /// (refusing if plaintext input is already buffered or decoded), run the wrapper,
    /// put the wrapped stream back. Other commands wait for it; the caller checks the
    /// manager's signals.
    pub(super) fn poll_wrap(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Stop>> {
        loop {
            match self.wrap.take().map(|wrap| *wrap) {
                Some(WrapState::Flushing(wrapper)) => {
                    match self.io.poll_flush(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(Stop::error(err))),
                        Poll::Pending => {
                            self.wrap = Some(Box::new(WrapState::Flushing(wrapper)));
                            return Poll::Pending;
                        }
                    }
                    let taken = match self.held.take() {
                        // A frame decoded after the upgrade command arrived before it.
                        Some(_) => Err(Error::wrap(PlaintextAfterUpgrade { bytes: 0 })),
                        None => self.io.take_io(),
                    };
                    match taken {
                        Ok(io) => self.wrap = Some(Box::new(WrapState::Running(wrapper(io)))),
                        Err(err) => {
                            tracing::warn!(error = %format_args!("{err:#}"), "live wrap refused");
                            return Poll::Ready(Err(Stop::now(CloseReason::error(err))));
                        }
                    }
                }
                Some(WrapState::Running(mut wrapping)) => {
                    return match wrapping.as_mut().poll(cx) {
                        Poll::Pending => {
                            self.wrap = Some(Box::new(WrapState::Running(wrapping)));
                            Poll::Pending
                        }
                        Poll::Ready(Ok(io)) => {
                            if let Some(info) = io.tls_info() {
                                let _ = self.shared.tls.set(Box::new(info));
                            }
                            self.io.put_io(io);
                            tracing::debug!("connection wrapped");
                            Poll::Ready(Ok(()))
                        }
                        Poll::Ready(Err(err)) => {
                            tracing::debug!(error = %format_args!("{err:#}"), "live wrap failed");
                            Poll::Ready(Err(Stop::now(CloseReason::error(err))))
                        }
                    };
                }
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}
