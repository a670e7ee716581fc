//! The driver: one task per connection that owns its frame transport and its
//! application.
//!
//! Each pass decodes a frame, asks the application's `poll_ready` for it (so an idle
//! connection holds no readiness: a shared concurrency limit or a `Buffer` slot is
//! taken only with a frame in hand, and while the application is not ready nothing
//! more is read and TCP backpressure reaches the peer), calls it, and polls the call
//! at once: a call that is ready is answered without being queued. Replies are
//! written in request or completion order; handle commands apply in the order issued,
//! a call's own controls after its reply. Writes are batched and flushed when no more
//! work is ready. Nothing else touches the transport; nothing on the frame path takes
//! a lock or a timer.

mod calls;
mod closing;
mod commands;
mod deadlines;
mod frames;
mod live_wrap;
mod state;
mod timer;
mod wrap_state;

pub(crate) use state::{panic_error, Closed, Driver};
