//! [`TlsStream`]: a TLS session over a byte stream, driven through rustls's unbuffered
//! API, so that every buffer is this crate's and an idle session holds none.
//!
//! rustls's buffered connection keeps a 4 KiB receive buffer for its whole life (and
//! a plaintext queue); here the ciphertext read waits in a pooled read chunk only
//! until it is decrypted, ciphertext to send only until the socket took it, and
//! plaintext only until it is read. What an idle session keeps is rustls's own state
//! (keys, the handshake's outcome).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use rustls::client::UnbufferedClientConnection;
use rustls::server::UnbufferedServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::config::session_info;
use super::session::{Buffers, Outcome, Session, Write, MAX_WRITE};
use crate::wrap::{Io, ProxyHeader, TlsInfo};

/// A TLS session over `IO`, the server's or the client's side; what
/// [`TlsServer`](super::TlsServer) and [`TlsClient`](super::TlsClient) give the next
/// wrapper once the handshake is done.
///
/// Reads give the peer's plaintext; the peer's close_notify reads as the end, and a
/// transport that ends without one as an `UnexpectedEof` error (a ragged end, which a
/// connection answers as an end and reports in its close reason). Writes encrypt up
/// to 64 KiB at once; shutting down sends close_notify, then shuts `IO` down.
/// Early (0-RTT) data is refused: a peer that sends it is closed.
pub struct TlsStream<IO> {
    io: IO,
    session: Session,
    buffers: Buffers,
    server_name: Option<Box<str>>,
}

/// What every call after a failure returns.
fn failed_before() -> io::Error {
    io::Error::other("the TLS session failed earlier")
}

impl<IO> TlsStream<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    fn new(io: IO, session: Session) -> Self {
        TlsStream {
            io,
            session,
            buffers: Buffers::default(),
            server_name: None,
        }
    }

    /// The server's side over `io`, handshake not started.
    pub(super) fn server(io: IO, conn: UnbufferedServerConnection) -> Self {
        TlsStream::new(io, Session::Server(Box::new(conn)))
    }

    /// The client's side over `io`, handshake not started.
    pub(super) fn client(io: IO, conn: UnbufferedClientConnection) -> Self {
        TlsStream::new(io, Session::Client(Box::new(conn)))
    }

    /// Runs the handshake to its end (each flight sent before more is read).
    pub(super) async fn handshake(mut self) -> io::Result<Self> {
        std::future::poll_fn(|cx| self.poll_handshake(cx)).await?;
        Ok(self)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.buffers.poll_send(&mut self.io, cx))?;
            if !self.session.common().is_handshaking() {
                self.buffers.release_incoming();
                return Poll::Ready(Ok(()));
            }
            match self.session.run(&mut self.buffers, None, Write::Nothing) {
                Err(error) => return Poll::Ready(Err(self.failed(cx, error))),
                // Done: the last flight goes out at the top.
                Ok(Outcome::Open) if !self.session.common().is_handshaking() => {}
                Ok(Outcome::Blocked | Outcome::Open) => {
                    // Our flight goes out before the peer's answer is awaited.
                    ready!(self.buffers.poll_send(&mut self.io, cx))?;
                    if ready!(self.buffers.poll_receive(&mut self.io, cx))? == 0 {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "TLS handshake cut short: the peer closed the connection",
                        )));
                    }
                }
                Ok(Outcome::Closed) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "TLS peer closed during the handshake",
                    )))
                }
                Ok(Outcome::Read | Outcome::Wrote) => {}
            }
        }
    }

    /// `error` ends the session: the alert rustls queued goes out if the socket
    /// takes it at once.
    fn failed(&mut self, cx: &mut Context<'_>, error: io::Error) -> io::Error {
        self.buffers.failed = true;
        let _ = self.buffers.poll_send(&mut self.io, cx);
        error
    }

    /// Records the server name the client asked for (SNI), on the server's side.
    pub(super) fn set_server_name(&mut self, name: Option<Box<str>>) {
        self.server_name = name;
    }
}

impl<IO> Io for TlsStream<IO>
where
    IO: Io + Unpin,
{
    fn proxy_header(&self) -> Option<&ProxyHeader> {
        self.io.proxy_header()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        let mut info = session_info(self.session.common());
        info.server_name = self.server_name.as_deref().map(str::to_owned);
        Some(info)
    }
}

impl<IO> AsyncRead for TlsStream<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.buffers.failed {
            return Poll::Ready(Err(failed_before()));
        }
        loop {
            let b = &mut this.buffers;
            if !b.plaintext.is_empty() {
                let n = b.plaintext.len().min(buf.remaining());
                buf.put_slice(&b.plaintext[..n]);
                b.plaintext.advance(n);
                if b.plaintext.is_empty() {
                    b.plaintext = BytesMut::new();
                }
                return Poll::Ready(Ok(()));
            }
            if b.peer_closed {
                return Poll::Ready(Ok(()));
            }
            if b.eof {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed connection without sending TLS close_notify",
                )));
            }
            let outcome = match this.session.run(b, Some(buf), Write::Nothing) {
                Ok(outcome) => outcome,
                Err(error) => return Poll::Ready(Err(this.failed(cx, error))),
            };
            // Records the session answers with (a key update, session tickets) go
            // out without the read waiting for them.
            if let Poll::Ready(Err(error)) = this.buffers.poll_send(&mut this.io, cx) {
                return Poll::Ready(Err(error));
            }
            match outcome {
                Outcome::Read => {
                    this.buffers.release_incoming();
                    return Poll::Ready(Ok(()));
                }
                Outcome::Closed | Outcome::Wrote => {}
                Outcome::Blocked | Outcome::Open => {
                    if this.buffers.peer_closed {
                        continue;
                    }
                    if ready!(this.buffers.poll_receive(&mut this.io, cx))? == 0 {
                        this.buffers.eof = true;
                    }
                }
            }
        }
    }
}

impl<IO> AsyncWrite for TlsStream<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.buffers.failed {
            return Poll::Ready(Err(failed_before()));
        }
        if this.buffers.closing {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS session shut down for writing",
            )));
        }
        // Ciphertext of earlier writes goes first: one write's worth is held at most.
        ready!(this.buffers.poll_send(&mut this.io, cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let data = &data[..data.len().min(MAX_WRITE)];
        match this.session.run(&mut this.buffers, None, Write::Data(data)) {
            Ok(Outcome::Wrote) => this.buffers.release_incoming(),
            Ok(_) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "TLS session cannot send application data",
                )))
            }
            Err(error) => return Poll::Ready(Err(this.failed(cx, error))),
        }
        // The bytes are taken; sending starts now and completes on a later call.
        if let Poll::Ready(Err(error)) = this.buffers.poll_send(&mut this.io, cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.buffers.poll_send(&mut this.io, cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.buffers.closing && !this.buffers.failed {
            this.buffers.closing = true;
            match this
                .session
                .run(&mut this.buffers, None, Write::CloseNotify)
            {
                Ok(_) => {}
                Err(error) => return Poll::Ready(Err(this.failed(cx, error))),
            }
        }
        ready!(this.buffers.poll_send(&mut this.io, cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<IO> std::fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.session {
            Session::Server(_) => "server",
            Session::Client(_) => "client",
        };
        f.debug_struct("TlsStream")
            .field("side", &side)
            .field(
                "protocol_version",
                &self.session.common().protocol_version(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::client::UnbufferedClientConnection;
    use rustls::pki_types::ServerName;
    use rustls::server::UnbufferedServerConnection;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::TlsStream;
    use crate::wrap::{tls_client_config, tls_server_config};

    /// A server and a client session over loopback TCP, handshakes done.
    async fn pair() -> (TlsStream<TcpStream>, TlsStream<TcpStream>) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
        let server = Arc::new(tls_server_config(cert.as_bytes(), key.as_bytes()).unwrap());
        let client = Arc::new(tls_client_config(cert.as_bytes()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let conn = UnbufferedServerConnection::new(server).unwrap();
            TlsStream::server(tcp, conn).handshake().await.unwrap()
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = UnbufferedClientConnection::new(client, name).unwrap();
        let client = TlsStream::client(tcp, conn).handshake().await.unwrap();
        (accept.await.unwrap(), client)
    }

    fn holds_nothing(stream: &TlsStream<TcpStream>) -> bool {
        let b = &stream.buffers;
        b.incoming.capacity() == 0 && b.plaintext.capacity() == 0 && b.outgoing.capacity() == 0
    }

    #[tokio::test]
    async fn an_idle_session_holds_no_buffer_after_traffic_both_ways() {
        let (mut server, mut client) =
            tokio::time::timeout(std::time::Duration::from_secs(10), pair())
                .await
                .unwrap();
        // Records larger than a read chunk, and a write larger than one record.
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let exchange = async {
            let send = async {
                client.write_all(&sent).await.unwrap();
                client.flush().await.unwrap();
                let mut done = [0; 4];
                client.read_exact(&mut done).await.unwrap();
                assert_eq!(&done, b"done");
            };
            let receive = async {
                let mut got = vec![0; sent.len()];
                server.read_exact(&mut got).await.unwrap();
                assert!(got == sent);
                server.write_all(b"done").await.unwrap();
                server.flush().await.unwrap();
            };
            tokio::join!(send, receive);
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
            .await
            .unwrap();
        assert!(holds_nothing(&server), "server");
        assert!(holds_nothing(&client), "client");
        // close_notify reads as the end on the other side.
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let end = server.read_to_end(&mut rest);
        tokio::time::timeout(std::time::Duration::from_secs(10), end)
            .await
            .unwrap()
            .unwrap();
        assert!(rest.is_empty());
    }
}
