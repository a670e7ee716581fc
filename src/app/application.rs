//! The contract: what an [`Application`] and an [`Acceptor`] are (only names for the
//! bounds a tower service must meet).

use tower::Service;

use crate::error::BoxError;
use crate::tendril::{IntoFrames, Tendril};

/// An application: a `tower::Service` from one inbound frame to a response that
/// becomes zero or more outbound frames ([`IntoFrames`]), sendable to the connection's
/// task. Implemented for every service that fits; it is only a name for the bounds.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an application for `{In}` frames in, `{Out}` frames out",
    label = "not a `tower::Service<{In}>` whose response is a reply of `{Out}` frames",
    note = "an application is a `tower::Service<{In}>` (`tendril_net::app::service(|frame| async move {{ Ok(reply) }})`) whose response implements `IntoFrames<{Out}>` and whose error converts into `BoxError`; it must be `Send + 'static`, and so must its future"
)]
pub trait Application<In, Out>:
    Service<
        In,
        Response: IntoFrames<Out> + Send + 'static,
        Error: Into<BoxError> + Send + 'static,
        Future: Send + 'static,
    > + Send
    + 'static
{
}

impl<S, In, Out> Application<In, Out> for S where
    S: Service<
            In,
            Response: IntoFrames<Out> + Send + 'static,
            Error: Into<BoxError> + Send + 'static,
            Future: Send + 'static,
        > + Send
        + 'static
{
}

/// An acceptor: the make-service called once per connection with its [`Tendril`],
/// returning the [`Application`] for it, or failing (with [`RejectConnection`](super::RejectConnection) to
/// refuse quietly). Implemented for every service that fits.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an acceptor for connections of `{In}` frames in, `{Out}` frames out",
    label = "not a `tower::Service<Tendril<{In}, {Out}>>` returning an application",
    note = "an acceptor is `tendril_net::app::acceptor_fn(|tendril| {{ ...; Ok(application) }})` or any `tower::Service<Tendril<{In}, {Out}>>` whose response is an `Application<{In}, {Out}>`"
)]
pub trait Acceptor<In, Out>:
    Service<
    Tendril<In, Out>,
    Response: Application<In, Out>,
    Error: Into<BoxError>,
    Future: Send + 'static,
>
{
}

impl<A, In, Out> Acceptor<In, Out> for A where
    A: Service<
        Tendril<In, Out>,
        Response: Application<In, Out>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    >
{
}
