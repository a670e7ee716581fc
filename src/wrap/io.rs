//! What a connection runs on: any byte stream implementing [`Io`], boxed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{PeerCredentials, ProxyHeader, TlsInfo};
use crate::error::Error;

/// A byte stream a connection can run on: `AsyncRead + AsyncWrite`, sendable, and able
/// to tell what security it carries.
///
/// The methods have defaults, so a stream type needs only `impl Io for MyStream {}`.
/// It exists because a wrapper's output must be able to say "this is TLS, and here is
/// the peer" after the stream is boxed (the same idea as hyper-util's `Connection`).
/// Implemented for tokio's TCP, Unix and in-memory streams, [`BoxIo`], and (with the
/// `tls` feature) [`TlsStream`](crate::wrap::TlsStream); for any other stream, [`box_io`] boxes it as
/// plain.
pub trait Io: AsyncRead + AsyncWrite + Send + 'static {
    /// The TLS session this stream carries, if any (the outermost one).
    fn tls_info(&self) -> Option<TlsInfo> {
        None
    }

    /// The credentials of the peer process, for a Unix socket (not through a wrapper
    /// such as TLS, which hides the socket).
    fn peer_credentials(&self) -> Option<PeerCredentials> {
        None
    }

    /// The PROXY protocol header read at the start of this stream, if a
    /// `ProxyProtocolLayer` read one (its addresses become the connection's).
    fn proxy_header(&self) -> Option<&ProxyHeader> {
        None
    }

    /// The address of the peer a socket is connected to (an IP socket): what a
    /// wrapper that trusts some sources only (the PROXY protocol's) checks.
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// The connection is closing with `error` (a limit, a failure,
    /// `Tendril::close_with`) rather than ending cleanly. A stream with an abortive
    /// close of its own applies it here and returns true (a QUIC stream resets its
    /// sending side and stops its receiving side with an error code): nothing more is
    /// flushed then. The default returns false: the connection flushes and shuts the
    /// stream down as usual (TCP, TLS).
    fn abort(self: Pin<&mut Self>, error: &Error) -> bool {
        let _ = error;
        false
    }
}

/// Any [`Io`], boxed: the cost is one indirect call per read or write, and a
/// connection's stream type can change while it runs (STARTTLS).
pub type BoxIo = Pin<Box<dyn Io>>;

impl Io for BoxIo {
    fn tls_info(&self) -> Option<TlsInfo> {
        self.as_ref().get_ref().tls_info()
    }

    fn peer_credentials(&self) -> Option<PeerCredentials> {
        self.as_ref().get_ref().peer_credentials()
    }

    fn proxy_header(&self) -> Option<&ProxyHeader> {
        self.as_ref().get_ref().proxy_header()
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.as_ref().get_ref().peer_addr()
    }

    fn abort(self: Pin<&mut Self>, error: &Error) -> bool {
        self.get_mut().as_mut().abort(error)
    }
}

impl Io for tokio::net::TcpStream {
    fn peer_addr(&self) -> Option<SocketAddr> {
        tokio::net::TcpStream::peer_addr(self).ok()
    }
}

#[cfg(unix)]
impl Io for tokio::net::UnixStream {
    fn peer_credentials(&self) -> Option<PeerCredentials> {
        let cred = self.peer_cred().ok()?;
        Some(PeerCredentials {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        })
    }
}

impl Io for tokio::io::DuplexStream {}

/// Boxes any byte stream as a plain (non-TLS) [`Io`]: for wrapper outputs of types
/// that do not implement [`Io`] themselves (a `BufStream`, a stream from another
/// crate).
pub fn box_io<T>(io: T) -> BoxIo
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    Box::pin(Plain { io: Box::pin(io) })
}

/// A stream that carries no TLS.
struct Plain<T> {
    io: Pin<Box<T>>,
}

impl<T: AsyncRead + AsyncWrite + Send + 'static> Io for Plain<T> {}

impl<T: AsyncRead> AsyncRead for Plain<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for Plain<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}
