//! A QUIC bidirectional stream as a connection's byte stream: [`QuicStream`], and the
//! application error codes a close carries ([`ErrorCode`]).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use quinn::{RecvStream, SendStream, VarInt};
use tendril_net::wrap::{Io, TlsInfo};
use tendril_net::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A QUIC application error code, for [`Tendril::close_with`](tendril_net::Tendril::close_with):
/// closing a stream's Tendril with it resets the stream's sending side
/// (`RESET_STREAM`) and stops its receiving side (`STOP_SENDING`) with this code.
/// Any other close error uses [`ErrorCode::INTERNAL`]; a plain close finishes the
/// stream (`FIN`) after its replies.
///
/// A peer's reset or stop closes the Tendril with an I/O error whose text carries the
/// peer's code (`stream reset by peer: error 7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u64);

impl ErrorCode {
    /// The code of a close for any other error (a limit, a framing error): 1.
    pub const INTERNAL: ErrorCode = ErrorCode(1);

    /// The code as QUIC carries it (codes above 2^62 - 1 are clamped to it).
    pub fn var_int(self) -> VarInt {
        VarInt::from_u64(self.0).unwrap_or(VarInt::MAX)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QUIC application error {}", self.0)
    }
}

impl std::error::Error for ErrorCode {}

/// One bidirectional stream: what its Tendril reads and writes, and what it tells of
/// its connection (the TLS session's ALPN, server name and peer certificates; the
/// peer's address).
pub(crate) struct QuicStream {
    send: SendStream,
    recv: RecvStream,
    tls: TlsInfo,
    peer: SocketAddr,
}

impl QuicStream {
    pub(crate) fn new(send: SendStream, recv: RecvStream, tls: TlsInfo, peer: SocketAddr) -> Self {
        QuicStream {
            send,
            recv,
            tls,
            peer,
        }
    }
}

impl Io for QuicStream {
    fn tls_info(&self) -> Option<TlsInfo> {
        Some(self.tls.clone())
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }

    fn abort(self: Pin<&mut Self>, error: &Error) -> bool {
        let code = error
            .cause::<ErrorCode>()
            .copied()
            .unwrap_or(ErrorCode::INTERNAL)
            .var_int();
        let this = self.get_mut();
        // Either may already be closed (the peer reset or stopped it): nothing to do.
        let _ = this.send.reset(code);
        let _ = this.recv.stop(code);
        true
    }
}

impl AsyncRead for QuicStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for QuicStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(&mut self.get_mut().send), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_flush(cx)
    }

    /// Finishes the stream (`FIN`).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_shutdown(cx)
    }
}
