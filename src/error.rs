//! The crate's error type.
//!
//! [`Error`] is opaque: what went wrong is asked through predicates such as
//! [`Error::is_framing`], and the underlying cause (a framer's own error enum, an
//! [`std::io::Error`], ...) is reached through [`std::error::Error::source`] and can
//! be downcast.

use std::fmt;
use std::io;

/// A type-erased error, as used at the edges where any error may appear (user codecs,
/// middleware).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with the crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error type of tendril-net.
///
/// It is one pointer wide and `Send + Sync`. `Display` describes only this level
/// ("framing error", "cannot connect to tcp 127.0.0.1:7000"); the alternate form `{:#}`
/// adds the whole chain of causes, each said once ("cannot connect to tcp
/// 127.0.0.1:7000: Connection refused (os error 111)"), which is what a program should
/// print for a user. `Debug` (`{:?}`, what `main` returning `Err` prints) is that same
/// chain; `{:#?}` shows the structure (kind, context, cause). The cause is available
/// through `source()`:
///
/// ```
/// use tendril_net::framer::{LineError, LineFramer, FramerSwitch};
/// use tokio_util::codec::Decoder;
/// use bytes::BytesMut;
///
/// let mut switch = FramerSwitch::new(LineFramer::new().max_frame_length(4), LineFramer::new());
/// let err = switch.decode(&mut BytesMut::from("too long\r\n")).unwrap_err();
/// assert!(err.is_framing());
/// let cause = err.framer_error::<LineError>().unwrap();
/// assert!(matches!(cause, LineError::TooLong { limit: 4 }));
/// assert_eq!(err.to_string(), "framing error");
/// assert_eq!(format!("{err:#}"), format!("framing error: {cause}"));
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    /// What was being done, said instead of the kind's description: `cannot listen on
    /// tcp 127.0.0.1:7000`.
    context: Option<Box<str>>,
    cause: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Io,
    Framing,
    Closed,
    QueueFull,
    Application,
    Panic,
    Config,
    Wrap,
    Timeout,
    Limit,
}

impl Error {
    fn new(kind: Kind, cause: Option<BoxError>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                context: None,
                cause,
            }),
        }
    }

    /// An I/O error from binding or listening on `endpoint` (a transport's name and
    /// address, `tcp 127.0.0.1:7000`): it says `cannot listen on tcp 127.0.0.1:7000`,
    /// then its cause. The engine's `start` makes it from
    /// a transport's bind error, so a plug-in's listen errors name the address too.
    pub fn listen(endpoint: impl fmt::Display, cause: io::Error) -> Self {
        Error::from(cause).context(format!("cannot listen on {endpoint}"))
    }

    /// An I/O error from dialling `target` (a transport's name and address, `tcp
    /// 127.0.0.1:7000`): it says `cannot connect to tcp 127.0.0.1:7000`, then its
    /// cause.
    pub fn connect(target: impl fmt::Display, cause: io::Error) -> Self {
        Error::from(cause).context(format!("cannot connect to {target}"))
    }

    fn context(mut self, context: String) -> Self {
        self.inner.context = Some(context.into_boxed_str());
        self
    }

    /// The first tendril-net [`Error`] in `err`'s chain of causes, `err` itself
    /// included: how to ask a [`BoxError`] (what tower middleware such as `Timeout` or
    /// `Buffer` turn errors into) whether the connection closed.
    ///
    /// ```
    /// use tendril_net::{BoxError, Error};
    ///
    /// let err: BoxError = Error::closed().into();
    /// assert!(Error::find(&*err).is_some_and(Error::is_closed));
    /// let other: BoxError = "elapsed".into();
    /// assert!(Error::find(&*other).is_none());
    /// ```
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Error> {
        let mut next = Some(err);
        while let Some(err) = next {
            if let Some(found) = err.downcast_ref::<Error>() {
                return Some(found);
            }
            next = err.source();
        }
        None
    }

    /// An error produced by a framer (a decoder or an encoder), boxed as its cause.
    pub(crate) fn framing(cause: impl Into<BoxError>) -> Self {
        Error::new(Kind::Framing, Some(cause.into()))
    }

    /// The connection is closed: a frame or command could not be delivered, or a
    /// transport was asked to connect after its manager shut down.
    pub fn closed() -> Self {
        Error::new(Kind::Closed, None)
    }

    /// The connection closed, for `cause` (a [`CloseReason`](crate::CloseReason), a
    /// transport's own reason: a QUIC stream reset by its peer, ...).
    pub fn closed_by(cause: impl Into<BoxError>) -> Self {
        Error::new(Kind::Closed, Some(cause.into()))
    }

    /// A bounded queue is full.
    pub(crate) fn queue_full() -> Self {
        Error::new(Kind::QueueFull, None)
    }

    /// The application (a tower service, or an acceptor) returned an error.
    pub(crate) fn application(cause: impl Into<BoxError>) -> Self {
        Error::new(Kind::Application, Some(cause.into()))
    }

    /// The application panicked; the cause carries the panic message.
    pub(crate) fn panic(message: String) -> Self {
        Error::new(Kind::Panic, Some(message.into()))
    }

    /// A wrapper failed (a handshake error or timeout), or a live wrap was refused: what
    /// a transport reports when it cannot set up the stream it was given.
    pub fn wrap(cause: impl Into<BoxError>) -> Self {
        Error::new(Kind::Wrap, Some(cause.into()))
    }

    /// A time limit passed; the cause says which (a [`CallTimeout`](crate::CallTimeout),
    /// a transport's handshake timeout, ...).
    pub fn timeout(cause: impl Into<BoxError>) -> Self {
        Error::new(Kind::Timeout, Some(cause.into()))
    }

    /// A bound of the manager as a whole closed the connection (the memory budget, a
    /// transport's own bound such as concurrent streams).
    pub fn limit(cause: impl Into<BoxError>) -> Self {
        Error::new(Kind::Limit, Some(cause.into()))
    }

    /// A configuration or usage error: an endpoint the transport cannot serve (a
    /// registry factory given a path where it needs a socket address), a manager of
    /// another type, a manager started twice.
    pub fn config(cause: impl Into<BoxError>) -> Self {
        Error::new(Kind::Config, Some(cause.into()))
    }

    /// True if a framer rejected the bytes it was given or the frame it was asked to
    /// encode (too long, malformed, truncated, ...). The cause is the framer's own
    /// error type: see [`Error::framer_error`].
    pub fn is_framing(&self) -> bool {
        self.inner.kind == Kind::Framing
    }

    /// True if a wrapper failed (a TLS handshake error or timeout, socket options that
    /// could not be set) or a live wrap found plaintext the peer sent too early
    /// (`PlaintextAfterUpgrade`). The cause is the
    /// wrapper's error.
    pub fn is_wrap(&self) -> bool {
        self.inner.kind == Kind::Wrap
    }

    /// The cause downcast to `E` (for example
    /// `HandshakeTimeout` or
    /// `PlaintextAfterUpgrade`), if it is one.
    pub fn cause<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.cause.as_ref()?.downcast_ref::<E>()
    }

    /// True if a connection's time limit passed; the cause says which:
    /// [`CallTimeout`](crate::CallTimeout) (an application call ran too long),
    /// [`ReadTooSlow`](crate::ReadTooSlow) (a frame trickled in below the read rate),
    /// [`WriteStalled`](crate::WriteStalled) (the peer took none of the pending output).
    /// A TLS handshake timeout is a wrap failure ([`Error::is_wrap`]), since the
    /// connection never started.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// True if a bound the manager keeps across all its connections closed this one:
    /// the memory budget ran short while it held more than its share
    /// ([`MemoryBudget`](crate::MemoryBudget) is the cause), or its source's limits
    /// refused it (`max_per_source`, `source_rate`).
    pub fn is_limit(&self) -> bool {
        self.inner.kind == Kind::Limit
    }

    /// True if the error came from the underlying I/O object.
    pub fn is_io(&self) -> bool {
        self.inner.kind == Kind::Io
    }

    /// True if the connection was already closed when a frame or command was given
    /// to it.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == Kind::Closed
    }

    /// True if a bounded queue was full (see
    /// [`Tendril::try_send_frame`](crate::Tendril::try_send_frame)).
    pub fn is_queue_full(&self) -> bool {
        self.inner.kind == Kind::QueueFull
    }

    /// True if the application returned an error; the cause is that error.
    pub fn is_application(&self) -> bool {
        self.inner.kind == Kind::Application
    }

    /// True if the application panicked; the cause holds the panic message.
    pub fn is_panic(&self) -> bool {
        self.inner.kind == Kind::Panic
    }

    /// True for a configuration or usage error (an unknown transport name, a manager
    /// of another type, a manager started twice).
    pub fn is_config(&self) -> bool {
        self.inner.kind == Kind::Config
    }

    /// The cause downcast to a concrete framer error type (for example
    /// `LineError`), if it is one.
    pub fn framer_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        if !self.is_framing() {
            return None;
        }
        self.inner.cause.as_ref()?.downcast_ref::<E>()
    }

    fn description(&self) -> &'static str {
        match self.inner.kind {
            Kind::Io => "I/O error",
            Kind::Framing => "framing error",
            Kind::Closed => "connection closed",
            Kind::QueueFull => "queue full",
            Kind::Application => "application error",
            Kind::Panic => "application panicked",
            Kind::Config => "configuration error",
            Kind::Wrap => "wrapper failed",
            Kind::Timeout => "timed out",
            Kind::Limit => "over a manager's limit",
        }
    }
}

impl fmt::Debug for Error {
    /// `{:?}` is the chain, as `{:#}` writes it (so `main` returning this error prints
    /// a message, not a structure); `{:#?}` is the structure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return write!(f, "{self:#}");
        }
        f.debug_struct("tendril_net::Error")
            .field("kind", &self.inner.kind)
            .field("context", &self.inner.context)
            .field("cause", &self.inner.cause)
            .finish()
    }
}

impl fmt::Display for Error {
    /// `{}` describes this level only; `{:#}` appends every cause, outermost first,
    /// each after `": "` (as `anyhow` does): `cannot listen on tcp 127.0.0.1:7000:
    /// Address already in use (os error 98)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.context {
            Some(context) => f.write_str(context)?,
            None => f.write_str(self.description())?,
        }
        if f.alternate() {
            let mut cause = std::error::Error::source(self);
            while let Some(err) = cause {
                write!(f, ": {err}")?;
                cause = err.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .cause
            .as_ref()
            .map(|cause| &**cause as &(dyn std::error::Error + 'static))
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::new(Kind::Io, Some(Box::new(err)))
    }
}

/// Implements the conversions every framer error enum has: `From<io::Error>` (the
/// `Io` variant, required by tokio-util), `From<ThisError> for crate::Error`, and
/// `std::error::Error` with the `Io` variant as the source.
macro_rules! framer_error {
    ($name:ident) => {
        impl From<::std::io::Error> for $name {
            fn from(err: ::std::io::Error) -> Self {
                $name::Io(err)
            }
        }

        impl ::std::error::Error for $name {
            fn source(&self) -> Option<&(dyn ::std::error::Error + 'static)> {
                match self {
                    $name::Io(err) => Some(err),
                    _ => None,
                }
            }
        }

        impl From<$name> for $crate::Error {
            fn from(err: $name) -> Self {
                match err {
                    $name::Io(io) => $crate::Error::from(io),
                    other => $crate::Error::framing(other),
                }
            }
        }
    };
}
pub(crate) use framer_error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_and_one_pointer_wide() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(
            std::mem::size_of::<Error>(),
            std::mem::size_of::<*const ()>()
        );
    }

    #[test]
    fn io_errors_keep_their_cause() {
        let err = Error::from(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
        assert!(err.is_io());
        assert!(!err.is_framing());
        assert_eq!(err.to_string(), "I/O error");
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(
            source.downcast_ref::<io::Error>().unwrap().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
