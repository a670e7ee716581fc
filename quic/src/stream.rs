//! A QUIC bidirectional stream as a connection's byte stream: [`QuicStream`], and the
//! application error codes a close carries ([`ErrorCode`]).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::future::Future;
use std::task::ready;

use bytes::{Bytes, BytesMut};
use quinn::crypto::rustls::HandshakeData;
use quinn::{Connection, ConnectionError, RecvStream, SendDatagramError, SendStream, VarInt};
use tendril_net::manager::Datagrams;
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
    /// `None` for a unidirectional stream the peer opened: receive-only.
    send: Option<SendStream>,
    recv: RecvStream,
    tls: TlsInfo,
    peer: SocketAddr,
}

impl QuicStream {
    pub(crate) fn new(send: SendStream, recv: RecvStream, tls: TlsInfo, peer: SocketAddr) -> Self {
        QuicStream {
            send: Some(send),
            recv,
            tls,
            peer,
        }
    }

    /// A unidirectional stream the peer opened: what is written to it fails.
    pub(crate) fn receive_only(recv: RecvStream, tls: TlsInfo, peer: SocketAddr) -> Self {
        QuicStream {
            send: None,
            recv,
            tls,
            peer,
        }
    }
}

/// Writing to a stream the peer opened one way.
fn receive_only() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a unidirectional QUIC stream is receive-only",
    )
}

/// The number a connection's datagrams (RFC 9221) go under, in place of a stream id
/// ([`Addr::Stream`](tendril_net::Addr::Stream)'s `stream`): above every stream id.
pub const DATAGRAMS: u64 = u64::MAX;

/// True if `remote` names a stream the peer opened one way (a QUIC stream id with its
/// unidirectional bit set): its Tendril is receive-only, and a reply closes it with an
/// error.
pub fn is_receive_only(remote: &tendril_net::Addr) -> bool {
    matches!(remote, tendril_net::Addr::Stream(name) if name.stream != DATAGRAMS && name.stream & 2 != 0)
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
        if let Some(send) = &mut this.send {
            let _ = send.reset(code);
        }
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
        match &mut self.get_mut().send {
            Some(send) => AsyncWrite::poll_write(Pin::new(send), cx, buf),
            None => Poll::Ready(Err(receive_only())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().send {
            Some(send) => Pin::new(send).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Finishes the stream (`FIN`).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().send {
            Some(send) => Pin::new(send).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

type ReadDatagram = Pin<Box<dyn Future<Output = Result<Bytes, ConnectionError>> + Send>>;

/// A connection's QUIC datagrams (RFC 9221) as one datagram connection of the engine:
/// each datagram decoded on its own, each frame sent one datagram.
pub(crate) struct QuicDatagrams {
    connection: Connection,
    reading: Option<ReadDatagram>,
}

impl QuicDatagrams {
    pub(crate) fn new(connection: Connection) -> Self {
        QuicDatagrams {
            connection,
            reading: None,
        }
    }
}

impl Datagrams for QuicDatagrams {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<BytesMut>>> {
        let connection = self.connection.clone();
        let reading = self
            .reading
            .get_or_insert_with(|| Box::pin(async move { connection.read_datagram().await }));
        let read = ready!(reading.as_mut().poll(cx));
        self.reading = None;
        Poll::Ready(match read {
            Ok(datagram) => Ok(Some(BytesMut::from(datagram))),
            // The connection ended: so does its datagram flow, as the peer's end.
            Err(
                ConnectionError::ApplicationClosed(_)
                | ConnectionError::ConnectionClosed(_)
                | ConnectionError::LocallyClosed,
            ) => Ok(None),
            Err(err) => Err(io::Error::other(err)),
        })
    }

    fn poll_send(&mut self, _cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        match self
            .connection
            .send_datagram(Bytes::copy_from_slice(datagram))
        {
            // Too large for the path, or the peer takes none: this datagram is lost,
            // as a datagram may be.
            Ok(()) | Err(SendDatagramError::TooLarge | SendDatagramError::Disabled) => {
                Poll::Ready(Ok(()))
            }
            Err(err) => Poll::Ready(Err(io::Error::other(err))),
        }
    }
}

/// What the TLS session of `connection` tells: ALPN, server name, peer certificates.
pub(crate) fn tls_info(connection: &Connection) -> TlsInfo {
    let mut info = TlsInfo::default();
    if let Some(data) = connection
        .handshake_data()
        .and_then(|data| data.downcast::<HandshakeData>().ok())
    {
        info.alpn_protocol = data.protocol.map(Bytes::from);
        info.server_name = data.server_name;
    }
    if let Some(certificates) = connection.peer_identity().and_then(|identity| {
        identity
            .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
            .ok()
    }) {
        info.peer_certificates = certificates
            .iter()
            .map(|certificate| Bytes::copy_from_slice(certificate))
            .collect();
    }
    info.protocol_version = Some("TLSv1_3");
    info
}
