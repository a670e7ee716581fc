//! [`BoxApp`]: an application with its type erased, so a function can build one and
//! return it.

use tower::util::BoxService;
use tower::{Service, ServiceExt};

use crate::error::BoxError;

/// An application whose type is erased: a `tower::Service` from an `In` frame to the
/// reply `R` (a frame, `Option`, `Vec` or [`Reply`](crate::app::Reply) of frames; by
/// default one `In` frame), failing with a [`BoxError`]. What a function that builds
/// an application returns, and what an acceptor choosing between applications gives
/// for each (`Box` the future, one allocation per call; for the hot path return `impl
/// Service<In, Response = R, Error = BoxError, Future: Send> + Send` instead).
pub type BoxApp<In, R = In> = BoxService<In, R, BoxError>;

/// Boxes `app` into a [`BoxApp`]: its error becomes a [`BoxError`], its future is
/// boxed.
///
/// The application and its future must be `Send` (a connection's task may move
/// between the runtime's threads): when the compiler says a future "cannot be sent
/// between threads safely" here, the application's future holds something that is not
/// `Send` across an `.await` (an `Rc`, a `std::sync::MutexGuard`, a `RefCell` borrow);
/// drop it before the `.await`, or use `Arc` and `tokio::sync::Mutex`. Written as
/// `impl Service<..>` in a function's return type, that same requirement is spelled
/// `Future: Send`.
///
/// ```
/// use bytes::Bytes;
/// use tendril_net::app::{acceptor_fn, boxed, service, BoxApp};
/// use tendril_net::framer::LineFramer;
/// use tendril_net::Tendril;
///
/// /// The application, built in a function of its own.
/// fn shout() -> BoxApp<Bytes> {
///     boxed(service(|line: Bytes| async move {
///         Ok(Bytes::from(line.to_ascii_uppercase()))
///     }))
/// }
///
/// let acceptor = acceptor_fn(|tendril: Tendril| {
///     tendril.set_framers(LineFramer::new(), LineFramer::new())?;
///     Ok(shout())
/// });
/// # let _ = acceptor;
/// ```
pub fn boxed<S, In, R>(app: S) -> BoxApp<In, R>
where
    S: Service<In, Response = R, Error: Into<BoxError>, Future: Send + 'static> + Send + 'static,
    In: 'static,
{
    BoxService::new(app.map_err(Into::into))
}
