//! A live wrap (STARTTLS) as the driver runs it.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::Service;

use super::{Driver, Stop};
use crate::app::IntoFrames;
use crate::error::{BoxError, Error};
use crate::tendril::command::LiveWrap;
use crate::tendril::io::FrameIo;
use crate::tendril::{CloseReason, Command};
use crate::wrap::{BoxIo, Io};

/// The steps of a live wrap.
pub(super) enum WrapState {
    /// Flushing what was queued before the wrap.
    Flushing(LiveWrap),
    /// The wrapper has the stream.
    Running(BoxFuture<'static, Result<BoxIo, Error>>),
}

impl<S, In, Out, T> Driver<S, In, Out, T>
where
    S: Service<In>,
    S::Response: IntoFrames<Out>,
    S::Error: Into<BoxError>,
    In: 'static,
    Out: 'static,
    T: FrameIo<In, Out> + Send + 'static,
{
    /// Drives a live wrap: flush what was queued before it, take the stream out
    /// (refusing if plaintext input is already buffered), run the wrapper, put the
    /// wrapped stream back. Only a manager's "close now" interrupts it; other commands
    /// wait for it.
    pub(super) fn poll_wrap(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Stop>> {
        while let Poll::Ready(Some(command)) = self.commands.poll_recv(cx) {
            if let Command::Shutdown { graceful: false } = command {
                return Poll::Ready(Err(Stop::now(CloseReason::Local)));
            }
            self.deferred.push_back(command);
        }
        loop {
            match self.wrap.take() {
                Some(WrapState::Flushing(wrapper)) => {
                    match Pin::new(&mut self.framed).poll_flush(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(Stop::error(err))),
                        Poll::Pending => {
                            self.wrap = Some(WrapState::Flushing(wrapper));
                            return Poll::Pending;
                        }
                    }
                    match self.framed.take_io() {
                        Ok(io) => self.wrap = Some(WrapState::Running(wrapper(io))),
                        Err(err) => {
                            tracing::warn!(error = %err, "live wrap refused");
                            return Poll::Ready(Err(Stop::now(CloseReason::error(err))));
                        }
                    }
                }
                Some(WrapState::Running(mut wrapping)) => {
                    return match wrapping.as_mut().poll(cx) {
                        Poll::Pending => {
                            self.wrap = Some(WrapState::Running(wrapping));
                            Poll::Pending
                        }
                        Poll::Ready(Ok(io)) => {
                            if let Some(info) = io.tls_info() {
                                let _ = self.shared.tls.set(info);
                            }
                            self.framed.put_io(io);
                            tracing::debug!("connection wrapped");
                            Poll::Ready(Ok(()))
                        }
                        Poll::Ready(Err(err)) => {
                            tracing::debug!(error = %err, "live wrap failed");
                            Poll::Ready(Err(Stop::now(CloseReason::error(err))))
                        }
                    };
                }
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}
