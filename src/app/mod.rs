//! The application contract: a tower `Service` from one inbound frame to zero or more
//! outbound frames, and the acceptor that builds one application per connection.
//!
//! Any `tower::Service<In>` whose response implements [`IntoFrames`] and whose error
//! converts into a [`BoxError`](crate::BoxError) is an application: a bare
//! `tower::service_fn`, or a `ServiceBuilder` stack with timeouts, concurrency and
//! rate limits, load shedding. The acceptor is the make-service: a
//! `tower::Service<Tendril<In, Out>>` returning the application, or failing with
//! [`RejectConnection`] to refuse the connection. [`acceptor_fn`] turns a plain closure
//! into one. [`boxed`] erases an application's type ([`BoxApp`]), so a function can
//! build one and return it.

mod acceptor;
mod application;
mod boxed;
mod service;

pub use crate::tendril::{IntoFrames, Reply};
pub(crate) use acceptor::is_rejection;
pub use acceptor::{acceptor_fn, AcceptorFn, RejectConnection};
pub use application::{Acceptor, Application};
pub use boxed::{boxed, BoxApp};
pub use service::{answer, service, Answer, ReplyType, ServiceFn};
