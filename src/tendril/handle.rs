//! [`Tendril`]: the connection as the application sees it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio_util::codec::{Decoder, Encoder};
use tower::ServiceExt;

use super::call_scope::current_call;
use super::command::Command;
use super::control::Control;
use super::queue::{Refused, Signal};
use super::shared::Shared;
use super::traffic::Totals;
use super::{Addr, CloseReason, ConnectionInfo, ReplyOrder};
use crate::error::{BoxError, Error};
use crate::framer::{AnyDecoder, AnyEncoder};
use crate::wrap::{BoxIo, PeerCredentials, ProxyHeader, TlsInfo, Wrapper};

/// Runs a live connection's wrapper, boxing what it returns.
fn live_wrap<W: Wrapper<BoxIo>>(wrapper: W, io: BoxIo) -> BoxFuture<'static, Result<BoxIo, Error>> {
    wrapper
        .oneshot(io)
        .map(|wrapped| match wrapped {
            Ok(io) => Ok(Box::pin(io) as BoxIo),
            Err(err) => Err(Error::wrap(err)),
        })
        .boxed()
}

/// A connection: who it is, and a handle to act on it. Cheap to clone.
///
/// The acceptor receives one, and an application usually keeps a clone to push
/// unsolicited frames, switch framers or close. Commands from all clones are applied
/// by the connection's driver in the order issued, with one rule for a call: **the
/// frames a call returns are written before the control commands issued during that
/// call take effect**. So `tendril.close()` and then returning a goodbye sends the
/// goodbye, then closes; [`wrap`](Self::wrap) and then returning "220 Ready" sends the
/// 220 in plaintext, then upgrades; a send-framer switch applies to the frames after
/// the reply. Frames pushed with [`send_frame`](Self::send_frame) go out in the order
/// pushed (before the reply of the call that pushed them).
///
/// "During a call" means from the application's `call` or its future, polled on the
/// connection's task, which is where every tower middleware but `Buffer` runs it.
/// Commands from other tasks carry no call: they apply when they arrive.
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
        let info = &self.shared.info;
        f.debug_struct("Tendril")
            .field("id", &info.id())
            .field("transport", &info.transport())
            .field("local", info.local())
            .field("remote", info.remote())
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

/// The frame of a command handed back.
fn frame_of<In, Out>(command: Command<In, Out>) -> Option<Out> {
    match command {
        Command::Frame(frame) => Some(frame),
        _ => None,
    }
}

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
        self.shared.info.id()
    }

    /// The transport's name (`"tcp"`, ...).
    pub fn transport(&self) -> &str {
        self.shared.info.transport()
    }

    /// This side's address: an [`Addr::Inet`] socket address for IP transports
    /// ([`Addr::as_inet`]), a path for a Unix listener, ...
    pub fn local(&self) -> &Addr {
        self.shared.info.local()
    }

    /// The peer's address: for IP transports its socket address ([`Addr::as_inet`]),
    /// behind a PROXY protocol header the client's.
    pub fn remote(&self) -> &Addr {
        self.shared.info.remote()
    }

    /// The PROXY protocol header a load balancer sent, if the connection was
    /// accepted through a `ProxyProtocolLayer` (feature `proxy-protocol`): the
    /// addresses, and the v2 TLVs (ALPN, authority, SSL). When it carries the client's
    /// addresses, [`remote`](Self::remote) and [`local`](Self::local) are already
    /// those.
    pub fn proxy(&self) -> Option<&ProxyHeader> {
        self.shared.proxy.as_deref()
    }

    /// The TLS session the connection runs on, once a TLS wrapper completed its
    /// handshake (at accept or connect time, or after [`wrap`](Self::wrap)).
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.shared.tls.get().map(|tls| &**tls)
    }

    /// The credentials of the peer process of a Unix socket connection (its user,
    /// group and process ids, as the kernel reported them when it connected); `None`
    /// for other transports.
    pub fn peer_credentials(&self) -> Option<PeerCredentials> {
        self.shared.peer
    }

    /// Queues a frame to send, waiting while the outbound queue is full (its bound is
    /// [`ConnectionConfig::outbound_queue`](crate::ConnectionConfig)).
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] if the connection is closed.
    pub async fn send_frame(&self, frame: impl Into<Out>) -> Result<(), Error> {
        match self
            .shared
            .queue
            .push_wait(Command::Frame(frame.into()))
            .await
        {
            Ok(()) => Ok(()),
            Err(Refused::OverBudget(_, err)) => Err(err),
            Err(_) => Err(Error::closed()),
        }
    }

    /// Queues a frame to send if the outbound queue has room.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when the queue is full, [`TrySendError::Closed`] when the
    /// connection is closed; both hand the frame back.
    pub fn try_send_frame(&self, frame: impl Into<Out>) -> Result<(), TrySendError<Out>> {
        match self.shared.queue.push(Command::Frame(frame.into())) {
            Ok(()) => Ok(()),
            Err(Refused::Full(command)) => match frame_of(command) {
                Some(frame) => Err(TrySendError::Full(frame)),
                None => Ok(()),
            },
            // Over the memory budget, the connection is being closed.
            Err(Refused::Closed(command) | Refused::OverBudget(command, _)) => {
                match frame_of(command) {
                    Some(frame) => Err(TrySendError::Closed(frame)),
                    None => Ok(()),
                }
            }
        }
    }

    /// Queues a frame whose room the caller's own permit bounds (a client's request:
    /// its in-flight bound keeps the queue bounded), even if the queue is full.
    pub(crate) fn send_permitted(&self, frame: Out) -> Result<(), Error> {
        match self.shared.queue.push_permitted(Command::Frame(frame)) {
            Ok(()) => Ok(()),
            Err(Refused::OverBudget(_, err)) => Err(err),
            Err(_) => Err(Error::closed()),
        }
    }

    fn push_control(&self, command: Command<In, Out>) -> Result<(), Error> {
        match self.shared.queue.push(command) {
            Ok(()) => Ok(()),
            Err(Refused::Full(_)) => Err(Error::queue_full()),
            Err(Refused::Closed(_)) => Err(Error::closed()),
            Err(Refused::OverBudget(_, err)) => Err(err),
        }
    }

    /// The call of this connection that is issuing a command, if one is.
    fn call(&self) -> Option<u64> {
        current_call(self.shared.info.id())
    }

    /// Closes the connection once the frames queued before this call are written (for
    /// at most [`ConnectionConfig::linger`](crate::ConnectionConfig)); called from the
    /// application's call, after that call's reply is written too. Reading stops; the
    /// replies of other calls still in flight are dropped. The close reason is
    /// [`CloseReason::Local`]. Closing never fails and never waits for room: closing a
    /// closing or closed connection does nothing.
    pub fn close(&self) {
        self.close_reason_error(None);
    }

    /// Closes the connection to make room for others, once its calls in flight are
    /// answered: reading stops, their replies go out, and it closes with
    /// [`CloseReason::Shed`] (counted in `Stats::shed_idle`). What the UDP manager
    /// does to a quiet peer when its table is full, and what a plug-in's
    /// connectionless transport does the same way; an application may shed a
    /// connection it wants gone without an error. Never fails; a closing connection
    /// is left to close as it was.
    pub fn shed(&self) {
        self.shared.queue.signal(Signal::ShedWhenDone);
    }

    /// [`close`](Self::close) with an error of the application's as the close reason:
    /// [`CloseReason::Error`] whose [`Error::is_application`] is true and whose cause
    /// is `reason` (for [`Error::cause`] to downcast). Counted as a failed connection.
    pub fn close_with(&self, reason: impl Into<BoxError>) {
        self.close_reason_error(Some(Error::application(reason)));
    }

    fn close_reason_error(&self, error: Option<Error>) {
        let call = self.call();
        self.shared.queue.push_close(Command::Close { error, call });
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.get().is_some()
    }

    /// How the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.closed.get().cloned()
    }

    /// Resolves when the connection closes, with how it closed (the original
    /// Tendril's `closed(error)` notification).
    pub fn closed(&self) -> impl Future<Output = CloseReason> + Send + 'static
    where
        In: Send + 'static,
        Out: Send + 'static,
    {
        let shared = self.shared.clone();
        async move {
            loop {
                // Told by the queue, which closes when the connection does.
                let mut notified = pin!(shared.queue.notified());
                notified.as_mut().enable();
                if let Some(reason) = shared.closed.get() {
                    return reason.clone();
                }
                notified.await;
            }
        }
    }

    /// A frame to write before the close if the manager's memory budget sheds this
    /// connection (it held more than its share while the budget was short): the
    /// protocol's "insufficient storage" answer (SMTP's `452`), so that the peer is
    /// told instead of seeing the connection drop. It is written only when nothing
    /// else is waiting to be written (a reply cut in the middle would make it
    /// garbage), then the connection closes as it would have. Replaces the one set
    /// before.
    pub fn set_shed_reply(&self, frame: impl Into<Out>) {
        self.shared.queue.set_shed_reply(frame.into());
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
        In: Send + 'static,
        Out: Send + 'static,
    {
        let closed = self.closed();
        tokio::spawn(async move { f(closed.await) });
    }
}

impl<In: 'static, Out: 'static> Tendril<In, Out> {
    /// Replaces the receive framer at the next frame boundary: bytes already received
    /// but not yet decoded are decoded by `framer`. With the default `max_in_flight`
    /// of 1, a switch made while handling a frame applies to the very next frame; with
    /// pipelining, to the next frame decoded after the switch is applied (frames
    /// already decoded keep the old framer's cut).
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] if the connection is closed, [`Error::is_queue_full`] if
    /// the outbound queue is full.
    pub fn set_recv_framer<D>(&self, framer: D) -> Result<(), Error>
    where
        D: Decoder<Item = In> + Send + 'static,
        D::Error: Into<BoxError>,
    {
        self.push_control(Command::SetRecv(Box::new(AnyDecoder::new(framer))))
    }

    /// Replaces the send framer: frames queued after this call are encoded with
    /// `framer`; called from the application's call, the call's own reply still goes
    /// out with the framer before.
    ///
    /// # Errors
    ///
    /// As [`set_recv_framer`](Self::set_recv_framer).
    pub fn set_send_framer<E>(&self, framer: E) -> Result<(), Error>
    where
        E: Encoder<Out> + Send + 'static,
        E::Error: Into<BoxError>,
    {
        let call = self.call();
        self.push_control(Command::SetSend {
            framer: Box::new(AnyEncoder::new(framer)),
            call,
        })
    }

    /// Replaces both framers (any decoder and encoder, including the
    /// [`AnyDecoder`]/[`AnyEncoder`] pair that [`framer::named`](crate::framer::named)
    /// returns).
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

    /// Changes how this connection pipelines, from the next frame decoded on: at most
    /// `max_in_flight` inbound frames in calls at once, their replies in `order` (the
    /// manager's [`ConnectionConfig`](crate::ConnectionConfig) gives every connection
    /// its first setting). Called from the acceptor, it applies before the first frame;
    /// a protocol can also start pipelining once it has negotiated it (SMTP's
    /// `PIPELINING`). Calls still running keep their place: switched to completion
    /// order, those already done are answered at once; switched to request order, all
    /// are answered in the order they were made.
    ///
    /// # Errors
    ///
    /// As [`set_recv_framer`](Self::set_recv_framer).
    pub fn set_pipelining(&self, max_in_flight: usize, order: ReplyOrder) -> Result<(), Error> {
        self.push_control(Command::Pipelining {
            max_in_flight,
            order,
        })
    }

    /// Wraps the live connection's stream (STARTTLS): once every frame and command
    /// queued before this call has been written and flushed (and, called from the
    /// application's call, the call's own reply: answer the upgrade command by
    /// returning it), `wrapper` gets the raw stream, and the connection resumes on
    /// what it returns, with the same framers. Nothing is read or written meanwhile.
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
        let call = self.call();
        self.push_control(Command::Wrap {
            wrapper: Box::new(move |io: BoxIo| live_wrap(wrapper, io)),
            call,
        })
    }
}

/// The manager's view of a connection is its shared state.
impl<In: Send + 'static, Out: Send + 'static> Control for Shared<In, Out> {
    fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    fn tendril(self: Arc<Self>) -> Box<dyn Any> {
        Box::new(Tendril::from_shared(self))
    }

    fn traffic(&self) -> Totals {
        self.traffic.load()
    }

    fn shed_idle(&self) {
        self.queue.signal(Signal::ShedIdle);
    }

    fn shed_memory(&self) {
        self.queue.signal(Signal::ShedMemory);
    }

    fn busy(&self) -> bool {
        self.traffic.busy()
    }

    fn shutdown(&self, graceful: bool) {
        let signal = if graceful {
            Signal::Graceful
        } else {
            Signal::Abort
        };
        self.queue.signal(signal);
    }
}
