//! [`Tendril`]: the connection as the application sees it.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::sync::{mpsc, watch, Semaphore, TryAcquireError};
use tokio_util::codec::{Decoder, Encoder};

use super::{Addr, CloseReason, Command};
use crate::error::{BoxError, Error};
use crate::framer::{box_decoder, box_encoder, BoxDecoder, BoxEncoder};
use crate::wrap::{ready_call, BoxIo, TlsInfo, Wrapper};

/// Runs a live connection's wrapper, boxing what it returns.
fn live_wrap<W: Wrapper<BoxIo>>(wrapper: W, io: BoxIo) -> BoxFuture<'static, Result<BoxIo, Error>> {
    ready_call(wrapper, io)
        .map(|wrapped| match wrapped {
            Ok(io) => Ok(Box::pin(io) as BoxIo),
            Err(err) => Err(Error::wrap(err)),
        })
        .boxed()
}

/// Who a connection is: its id, transport and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    id: u64,
    transport: Arc<str>,
    local: Addr,
    remote: Addr,
}

/// The socket address of an IP transport's end, or the unspecified address for others.
fn inet_or_unspecified(addr: &Addr) -> SocketAddr {
    addr.as_inet()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

impl ConnectionInfo {
    pub(crate) fn new(id: u64, transport: Arc<str>, local: Addr, remote: Addr) -> Self {
        ConnectionInfo {
            id,
            transport,
            local,
            remote,
        }
    }

    /// An id unique among the connections of this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The transport's registered name (`"tcp"`, ...).
    pub fn transport(&self) -> &str {
        &self.transport
    }

    /// This side's socket address (IP transports; the unspecified address `0.0.0.0:0`
    /// for others, see [`local`](Self::local)).
    pub fn local_addr(&self) -> SocketAddr {
        inet_or_unspecified(&self.local)
    }

    /// The peer's socket address (IP transports; the unspecified address `0.0.0.0:0`
    /// for others, see [`remote`](Self::remote)).
    pub fn remote_addr(&self) -> SocketAddr {
        inet_or_unspecified(&self.remote)
    }

    /// This side's address, whatever the transport.
    pub fn local(&self) -> &Addr {
        &self.local
    }

    /// The peer's address, whatever the transport.
    pub fn remote(&self) -> &Addr {
        &self.remote
    }
}

/// State shared by a connection's handles and its driver.
pub(crate) struct Shared<In, Out> {
    pub(crate) info: ConnectionInfo,
    commands: mpsc::UnboundedSender<Command<In, Out>>,
    /// One permit per frame the outbound queue may still take.
    pub(crate) permits: Arc<Semaphore>,
    /// Control commands (framer switches, close) not yet applied.
    pub(crate) control: AtomicUsize,
    control_limit: usize,
    pub(crate) closed: watch::Sender<Option<CloseReason>>,
    /// The TLS session, once a wrapper established one.
    pub(crate) tls: OnceLock<TlsInfo>,
}

impl<In, Out> Shared<In, Out> {
    pub(crate) fn new(
        info: ConnectionInfo,
        outbound_queue: usize,
        control_limit: usize,
        tls: Option<TlsInfo>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Command<In, Out>>) {
        let (commands, receiver) = mpsc::unbounded_channel();
        let shared = Shared {
            info,
            commands,
            permits: Arc::new(Semaphore::new(outbound_queue)),
            control: AtomicUsize::new(0),
            control_limit,
            closed: watch::Sender::new(None),
            tls: tls.map(OnceLock::from).unwrap_or_default(),
        };
        (Arc::new(shared), receiver)
    }
}

/// The manager's way to tell a connection of any frame type to shut down.
pub(crate) trait Control: Send + Sync {
    fn shutdown(&self, graceful: bool);
}

impl<In: Send, Out: Send> Control for Shared<In, Out> {
    fn shutdown(&self, graceful: bool) {
        // Outside the control bound: the manager sends at most two per connection.
        let _ = self.commands.send(Command::Shutdown { graceful });
    }
}

/// A connection: who it is, and a handle to act on it. Cheap to clone.
///
/// The acceptor receives one, and an application usually keeps a clone to push
/// unsolicited frames, switch framers or close. Commands from all clones are applied
/// by the connection's driver in the order issued; frames returned by the application
/// for a request are queued when its call completes, after the commands it issued
/// during the call.
pub struct Tendril<In = Bytes, Out = Bytes> {
    shared: Arc<Shared<In, Out>>,
}

impl<In, Out> Clone for Tendril<In, Out> {
    fn clone(&self) -> Self {
        Tendril {
            shared: self.shared.clone(),
        }
    }
}

impl<In, Out> fmt::Debug for Tendril<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tendril")
            .field("id", &self.shared.info.id)
            .field("transport", &self.shared.info.transport)
            .field("local", &self.shared.info.local)
            .field("remote", &self.shared.info.remote)
            .finish()
    }
}

/// Why [`Tendril::try_send_frame`] did not queue a frame; the frame is handed back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<F> {
    /// The outbound queue is full.
    Full(F),
    /// The connection is closed.
    Closed(F),
}

impl<F> TrySendError<F> {
    /// The frame that was not sent.
    pub fn into_frame(self) -> F {
        match self {
            TrySendError::Full(frame) | TrySendError::Closed(frame) => frame,
        }
    }
}

impl<F> fmt::Display for TrySendError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("outbound queue full"),
            TrySendError::Closed(_) => f.write_str("connection closed"),
        }
    }
}

impl<F: fmt::Debug> std::error::Error for TrySendError<F> {}

impl<In, Out> Tendril<In, Out> {
    pub(crate) fn from_shared(shared: Arc<Shared<In, Out>>) -> Self {
        Tendril { shared }
    }

    /// Who this connection is.
    pub fn info(&self) -> &ConnectionInfo {
        &self.shared.info
    }

    /// An id unique among the connections of this process.
    pub fn id(&self) -> u64 {
        self.shared.info.id
    }

    /// The transport's name (`"tcp"`, ...).
    pub fn transport(&self) -> &str {
        &self.shared.info.transport
    }

    /// This side's socket address (IP transports; the unspecified address `0.0.0.0:0`
    /// for others, see [`local`](Self::local)).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.info.local_addr()
    }

    /// The peer's socket address (IP transports; the unspecified address `0.0.0.0:0`
    /// for others, see [`remote`](Self::remote)).
    pub fn remote_addr(&self) -> SocketAddr {
        self.shared.info.remote_addr()
    }

    /// This side's address, whatever the transport.
    pub fn local(&self) -> &Addr {
        &self.shared.info.local
    }

    /// The peer's address, whatever the transport.
    pub fn remote(&self) -> &Addr {
        &self.shared.info.remote
    }

    /// The TLS session the connection runs on, once a TLS wrapper completed its
    /// handshake (at accept or connect time, or after [`wrap`](Self::wrap)).
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.shared.tls.get()
    }

    /// Queues a frame to send, waiting while the outbound queue is full (its bound is
    /// [`ConnectionConfig::outbound_queue`](crate::ConnectionConfig)).
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] if the connection is closed.
    pub async fn send_frame(&self, frame: impl Into<Out>) -> Result<(), Error> {
        let permit = self
            .shared
            .permits
            .acquire()
            .await
            .map_err(|_| Error::closed())?;
        permit.forget();
        self.shared
            .commands
            .send(Command::Frame(frame.into()))
            .map_err(|_| Error::closed())
    }

    /// Queues a frame to send if the outbound queue has room.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when the queue is full, [`TrySendError::Closed`] when the
    /// connection is closed; both hand the frame back.
    pub fn try_send_frame(&self, frame: impl Into<Out>) -> Result<(), TrySendError<Out>> {
        let frame = frame.into();
        match self.shared.permits.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(frame)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(frame)),
        }
        match self.shared.commands.send(Command::Frame(frame)) {
            Err(mpsc::error::SendError(Command::Frame(frame))) => Err(TrySendError::Closed(frame)),
            _ => Ok(()),
        }
    }

    /// The outbound queue's permits, for a caller that reserves room before it commits
    /// to sending (the client's `poll_ready`).
    pub(crate) fn outbound_permits(&self) -> Arc<Semaphore> {
        self.shared.permits.clone()
    }

    /// Queues a frame whose permit was acquired (and forgotten) by the caller.
    pub(crate) fn send_reserved(&self, frame: Out) -> Result<(), Error> {
        self.shared
            .commands
            .send(Command::Frame(frame))
            .map_err(|_| Error::closed())
    }

    fn control(&self, command: Command<In, Out>) -> Result<(), Error> {
        let pending = self.shared.control.fetch_add(1, Ordering::AcqRel);
        if pending >= self.shared.control_limit {
            self.shared.control.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::queue_full());
        }
        self.shared.commands.send(command).map_err(|_| {
            self.shared.control.fetch_sub(1, Ordering::AcqRel);
            Error::closed()
        })
    }

    /// Closes the connection after the frames queued before this call are flushed
    /// (for at most [`ConnectionConfig::linger`](crate::ConnectionConfig)). The close
    /// reason is [`CloseReason::Local`]. Closing a closed connection does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::is_queue_full`] if too many control commands are pending.
    pub fn close(&self) -> Result<(), Error> {
        match self.control(Command::Close) {
            Err(err) if err.is_closed() => Ok(()),
            other => other,
        }
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.borrow().is_some()
    }

    /// How the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.closed.borrow().clone()
    }

    /// Resolves when the connection closes, with how it closed (the original
    /// Tendril's `closed(error)` notification).
    pub fn closed(&self) -> impl Future<Output = CloseReason> + Send + 'static
    where
        In: 'static,
        Out: 'static,
    {
        let mut closed = self.shared.closed.subscribe();
        async move {
            match closed.wait_for(Option::is_some).await {
                Ok(reason) => reason.clone().unwrap_or(CloseReason::Local),
                Err(_) => CloseReason::Local,
            }
        }
    }

    /// Calls `f` with the close reason once the connection closes (on a task of the
    /// current tokio runtime).
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime.
    pub fn on_close<F>(&self, f: F)
    where
        F: FnOnce(CloseReason) + Send + 'static,
        In: 'static,
        Out: 'static,
    {
        let closed = self.closed();
        tokio::spawn(async move { f(closed.await) });
    }
}

impl<In: 'static, Out: 'static> Tendril<In, Out> {
    /// Replaces the receive framer at the next frame boundary: bytes already received
    /// but not yet decoded are decoded by `framer`.
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] if the connection is closed, [`Error::is_queue_full`] if
    /// too many control commands are pending.
    pub fn set_recv_framer<D>(&self, framer: D) -> Result<(), Error>
    where
        D: Decoder<Item = In> + Send + 'static,
        D::Error: Into<BoxError>,
    {
        self.control(Command::SetRecv(box_decoder(framer)))
    }

    /// Replaces the send framer: frames queued after this call are encoded with
    /// `framer`.
    ///
    /// # Errors
    ///
    /// As [`set_recv_framer`](Self::set_recv_framer).
    pub fn set_send_framer<E>(&self, framer: E) -> Result<(), Error>
    where
        E: Encoder<Out> + Send + 'static,
        E::Error: Into<BoxError>,
    {
        self.control(Command::SetSend(box_encoder(framer)))
    }

    /// Replaces both framers with framers already boxed (see
    /// [`framer::named`](crate::framer::named)).
    ///
    /// # Errors
    ///
    /// As [`set_recv_framer`](Self::set_recv_framer).
    pub fn set_boxed_framers(
        &self,
        recv: BoxDecoder<In>,
        send: BoxEncoder<Out>,
    ) -> Result<(), Error> {
        self.control(Command::SetRecv(recv))?;
        self.control(Command::SetSend(send))
    }

    /// Wraps the live connection's stream (STARTTLS): once every frame and command
    /// queued before this call has been written and flushed, `wrapper` gets the raw
    /// stream, and the connection resumes on what it returns, with the same framers.
    /// Nothing is read or written meanwhile.
    ///
    /// To answer the upgrade command in plaintext first, send the answer with
    /// [`send_frame`](Self::send_frame) (or `try_send_frame`) before calling `wrap`,
    /// and return no reply from the call: a call's reply is queued after the commands
    /// issued during the call.
    ///
    /// If input is already buffered when the wrap starts (the peer sent more after
    /// the upgrade command, without waiting for the answer), that input is discarded,
    /// never delivered, and the connection closes with
    /// [`PlaintextAfterUpgrade`](crate::wrap::PlaintextAfterUpgrade) (CVE-2011-0411).
    /// A failing wrapper closes the connection too; both are errors for which
    /// [`Error::is_wrap`] is true. The next frame is decoded only after the wrap, with
    /// the default `max_in_flight` of 1; with more in flight, frames read before the
    /// wrap were already delivered.
    ///
    /// # Errors
    ///
    /// As [`set_recv_framer`](Self::set_recv_framer). Datagram connections have no
    /// stream: they close with an error when the wrap is applied.
    pub fn wrap<W>(&self, wrapper: W) -> Result<(), Error>
    where
        W: Wrapper<BoxIo>,
    {
        self.control(Command::Wrap(Box::new(move |io: BoxIo| {
            live_wrap(wrapper, io)
        })))
    }

    /// Replaces both framers.
    ///
    /// # Errors
    ///
    /// As [`set_recv_framer`](Self::set_recv_framer).
    pub fn set_framers<D, E>(&self, recv: D, send: E) -> Result<(), Error>
    where
        D: Decoder<Item = In> + Send + 'static,
        D::Error: Into<BoxError>,
        E: Encoder<Out> + Send + 'static,
        E::Error: Into<BoxError>,
    {
        self.set_recv_framer(recv)?;
        self.set_send_framer(send)
    }
}
