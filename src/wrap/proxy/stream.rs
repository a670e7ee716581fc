//! [`ProxyStream`]: a stream after its PROXY header.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::wrap::{Io, PeerCredentials, ProxyHeader, TlsInfo};

/// A stream after its PROXY header: the bytes read past the header first, then the
/// stream itself; [`Io::proxy_header`] gives the header.
pub struct ProxyStream<I> {
    inner: I,
    rest: Bytes,
    header: Option<ProxyHeader>,
}

impl<I> ProxyStream<I> {
    pub(super) fn new(inner: I, rest: Bytes, header: Option<ProxyHeader>) -> Self {
        ProxyStream {
            inner,
            rest,
            header,
        }
    }

    /// Its header is not to be believed (it came from outside the trusted networks).
    pub(super) fn untrusted(mut self) -> Self {
        self.header = self.header.map(ProxyHeader::untrusted);
        self
    }

    /// The stream under the header.
    pub fn get_ref(&self) -> &I {
        &self.inner
    }
}

impl<I> fmt::Debug for ProxyStream<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyStream")
            .field("header", &self.header)
            .field("buffered", &self.rest.len())
            .finish_non_exhaustive()
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for ProxyStream<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.rest.is_empty() {
            let n = self.rest.len().min(buf.remaining());
            buf.put_slice(&self.rest[..n]);
            self.rest.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ProxyStream<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<I: Io + Unpin> Io for ProxyStream<I> {
    fn tls_info(&self) -> Option<TlsInfo> {
        self.inner.tls_info()
    }

    fn peer_credentials(&self) -> Option<PeerCredentials> {
        self.inner.peer_credentials()
    }

    fn proxy_header(&self) -> Option<&ProxyHeader> {
        self.header.as_ref()
    }
}
