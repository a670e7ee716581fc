//! [`StreamPerRequest`]: a QUIC connection as a tower `Service` whose every call is a
//! stream of its own (DNS over QUIC, RFC 9250; many RPCs over QUIC).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use quinn::{Connection, ConnectionError, RecvStream, SendStream};
use tendril_net::client::ResponseTimeout;
use tendril_net::framer::FramerSwitch;
use tendril_net::Error;
use tokio_util::codec::{Decoder, Encoder};
use tower::Service;

use crate::stream::ErrorCode;

type Opening =
    Pin<Box<dyn Future<Output = Result<(SendStream, RecvStream), ConnectionError>> + Send>>;

/// The response future of a [`StreamPerRequest`] call.
pub type ResponseFuture<Resp> = Pin<Box<dyn Future<Output = Result<Resp, Error>> + Send>>;

/// Default longest response, in bytes (a DNS message and its length prefix).
pub const DEFAULT_MAX_RESPONSE: usize = 65_537;

/// A QUIC connection as a `tower::Service` where every call is one stream: the call
/// opens a bidirectional stream, writes its request frame (with the send framer of
/// the switch `framers` makes), finishes the stream, reads the peer's side to its end
/// and resolves with the one frame it holds (the receive framer's). `poll_ready` opens
/// the stream, so readiness follows the connection's stream credit: with every stream
/// the peer allows in use, it waits. `Clone`: each clone opens its own streams on the
/// same connection.
///
/// A response longer than [`max_response`](Self::max_response) (default
/// [`DEFAULT_MAX_RESPONSE`]) fails the call and stops the stream; with
/// [`timeout`](Self::timeout), a response not complete in time fails it too
/// ([`Error::is_timeout`], the cause a [`ResponseTimeout`]) and resets the stream. A stream the peer resets or a
/// connection lost fail the call with that reason.
pub struct StreamPerRequest<Req, Resp> {
    connection: Connection,
    framers: Arc<dyn Fn() -> FramerSwitch<Resp, Req> + Send + Sync>,
    opening: Option<Opening>,
    opened: Option<(SendStream, RecvStream)>,
    max_response: usize,
    timeout: Option<Duration>,
}

impl<Req, Resp> fmt::Debug for StreamPerRequest<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamPerRequest")
            .field("remote", &self.connection.remote_address())
            .field("max_response", &self.max_response)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Clone for StreamPerRequest<Req, Resp> {
    fn clone(&self) -> Self {
        StreamPerRequest {
            connection: self.connection.clone(),
            framers: self.framers.clone(),
            opening: None,
            opened: None,
            max_response: self.max_response,
            timeout: self.timeout,
        }
    }
}

impl<Req, Resp> StreamPerRequest<Req, Resp> {
    /// Calls over `connection` (from [`QuicManager::connect_connection`](crate::QuicManager::connect_connection)),
    /// each stream framed by a switch `framers` makes (receive: responses, send:
    /// requests).
    pub fn new<F>(connection: Connection, framers: F) -> Self
    where
        F: Fn() -> FramerSwitch<Resp, Req> + Send + Sync + 'static,
    {
        StreamPerRequest {
            connection,
            framers: Arc::new(framers),
            opening: None,
            opened: None,
            max_response: DEFAULT_MAX_RESPONSE,
            timeout: None,
        }
    }

    /// The longest response read, in bytes.
    pub fn max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// How long a call may take from its request to its whole response (default: no
    /// limit but the connection's idle timeout).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connection the streams are opened on.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

impl<Req, Resp> Service<Req> for StreamPerRequest<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = Error;
    type Future = ResponseFuture<Resp>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.opened.is_some() {
            return Poll::Ready(Ok(()));
        }
        let connection = self.connection.clone();
        let opening = self
            .opening
            .get_or_insert_with(|| Box::pin(async move { connection.open_bi().await }));
        let opened = ready!(opening.as_mut().poll(cx));
        self.opening = None;
        self.opened = Some(opened.map_err(Error::closed_by)?);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> ResponseFuture<Resp> {
        let Some((send, recv)) = self.opened.take() else {
            return Box::pin(std::future::ready(Err(Error::config(
                "StreamPerRequest::call without poll_ready",
            ))));
        };
        let framers = (self.framers)();
        let (max_response, timeout) = (self.max_response, self.timeout);
        Box::pin(async move {
            let exchange = exchange(send, recv, framers, request, max_response);
            match timeout {
                None => exchange.await,
                Some(after) => match tokio::time::timeout(after, exchange).await {
                    Ok(outcome) => outcome,
                    // Dropping the exchange resets and stops its stream.
                    Err(_) => Err(Error::timeout(ResponseTimeout::new(after))),
                },
            }
        })
    }
}

/// Resets and stops a stream given up on (dropped before its exchange ended).
struct Abandon {
    send: SendStream,
    recv: RecvStream,
    done: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.done {
            let code = ErrorCode::INTERNAL.var_int();
            let _ = self.send.reset(code);
            let _ = self.recv.stop(code);
        }
    }
}

/// One request, one response, one stream.
async fn exchange<Req, Resp>(
    send: SendStream,
    recv: RecvStream,
    mut framers: FramerSwitch<Resp, Req>,
    request: Req,
    max_response: usize,
) -> Result<Resp, Error>
where
    Req: 'static,
    Resp: 'static,
{
    let mut stream = Abandon {
        send,
        recv,
        done: false,
    };
    let mut wire = BytesMut::new();
    framers.encode(request, &mut wire)?;
    let closed = |err: std::io::Error| Error::closed_by(err);
    stream
        .send
        .write_all(&wire)
        .await
        .map_err(|err| closed(err.into()))?;
    stream
        .send
        .finish()
        .map_err(|err| closed(std::io::Error::other(err)))?;
    let mut input = BytesMut::new();
    loop {
        let chunk = stream
            .recv
            .read_chunk(max_response.saturating_sub(input.len()).max(1), true)
            .await
            .map_err(|err| closed(err.into()))?;
        let Some(chunk) = chunk else { break };
        input.extend_from_slice(&chunk.bytes);
        if input.len() > max_response {
            return Err(Error::limit(format!(
                "a response longer than {max_response} bytes"
            )));
        }
    }
    stream.done = true;
    match framers.decode_eof(&mut input)? {
        Some(response) => Ok(response),
        None => Err(Error::closed_by("the stream ended without a response")),
    }
}
