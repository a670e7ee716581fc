//! The PROXY protocol (v1 and v2) wrapper: reads the header a load balancer sends at
//! the very start of a connection, so the connection's addresses are the client's.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use ppp::{v1, v2, PartialResult};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tower::{Layer, Service};

use super::info::{PeerCredentials, TlsInfo};
use super::proxy_info::{ProxyCommand, ProxyHeader};
use super::{take_ready, Io};
use crate::error::BoxError;

/// The v2 signature, and the v1 text prefix.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 header (the spec's 107 bytes) and the longest v2 header with IP or
/// Unix addresses and no TLV (16 + 216): the smallest bound that accepts every header
/// without TLVs.
const MIN_HEADER_BOUND: usize = 16 + 216;

/// A layer reading the PROXY protocol header (v1 text or v2 binary, whichever comes)
/// at the start of each stream, before the wrappers after it (TLS) see the stream
/// (feature `proxy-protocol`).
///
/// The header's addresses become the connection's: [`Tendril::remote_addr`] is the
/// client's, [`Tendril::local_addr`] the address the client connected to, and
/// [`Tendril::proxy`] gives the header with its v2 TLVs (ALPN, authority, SSL). A
/// `LOCAL` header (a load balancer's health check) keeps the socket's addresses. The
/// bytes after the header reach the framer untouched.
///
/// Bounds: the header must arrive within 5 s ([`timeout`](Self::timeout)) and be at
/// most 4 KiB with its TLVs ([`max_header_len`](Self::max_header_len)). A stream
/// without a valid header is refused: the wrapper fails with a [`ProxyError`], so the
/// connection is closed before the acceptor sees it, counted in `Stats::wrap_failed`
/// and logged. With [`optional(true)`](Self::optional) a stream that does not start
/// like a header (neither `PROXY ` nor the v2 signature) passes as it is; use that only
/// where direct clients are allowed, since a client can then claim any address by
/// sending a header itself.
///
/// ```
/// use tendril_net::wrap::{ProxyProtocolLayer, SocketOptionsLayer, WrapperChain};
///
/// // Behind a load balancer that sends PROXY v2: the header first, then TLS if any.
/// let wrapper = WrapperChain::new()
///     .layer(SocketOptionsLayer::new().nodelay(true))
///     .layer(ProxyProtocolLayer::new());
/// # let _ = wrapper;
/// ```
///
/// [`Tendril::remote_addr`]: crate::Tendril::remote_addr
/// [`Tendril::local_addr`]: crate::Tendril::local_addr
/// [`Tendril::proxy`]: crate::Tendril::proxy
#[derive(Debug, Clone)]
pub struct ProxyProtocolLayer {
    timeout: Duration,
    max_header_len: usize,
    optional: bool,
}

impl Default for ProxyProtocolLayer {
    fn default() -> Self {
        ProxyProtocolLayer::new()
    }
}

impl ProxyProtocolLayer {
    /// A required header, 5 s to arrive, at most 4 KiB.
    pub fn new() -> Self {
        ProxyProtocolLayer {
            timeout: Duration::from_secs(5),
            max_header_len: 4096,
            optional: false,
        }
    }

    /// How long the header may take to arrive (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest header accepted, TLVs included (default 4096 bytes; never less
    /// than 232, the longest header without TLVs).
    pub fn max_header_len(mut self, bytes: usize) -> Self {
        self.max_header_len = bytes.max(MIN_HEADER_BOUND);
        self
    }

    /// Let streams without a header through (default false: they are refused).
    pub fn optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }
}

impl<S> Layer<S> for ProxyProtocolLayer {
    type Service = ProxyProtocol<S>;

    fn layer(&self, inner: S) -> ProxyProtocol<S> {
        ProxyProtocol {
            settings: self.clone(),
            inner,
        }
    }
}

/// The wrapper of [`ProxyProtocolLayer`]: reads the header, then calls `S` with the
/// stream behind it ([`ProxyStream`]).
#[derive(Debug, Clone)]
pub struct ProxyProtocol<S> {
    settings: ProxyProtocolLayer,
    inner: S,
}

impl<S, I> Service<I> for ProxyProtocol<S>
where
    I: Io + Unpin,
    S: Service<ProxyStream<I>> + Clone + Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The next wrapper's readiness (a TLS handshake slot) is this one's.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, io: I) -> Self::Future {
        let settings = self.settings.clone();
        let mut inner = take_ready(&mut self.inner);
        Box::pin(async move {
            let stream = tokio::time::timeout(settings.timeout, read_header(io, &settings))
                .await
                .map_err(|_| ProxyError::Timeout(settings.timeout))??;
            inner.call(stream).await.map_err(Into::into)
        })
    }
}

/// Reads until a whole header (or, when optional, a non-header start) is buffered.
async fn read_header<I: Io + Unpin>(
    mut io: I,
    settings: &ProxyProtocolLayer,
) -> Result<ProxyStream<I>, ProxyError> {
    let mut buf = BytesMut::with_capacity(256);
    loop {
        if settings.optional && !could_be_header(&buf) {
            return Ok(ProxyStream::new(io, buf.freeze(), None));
        }
        if !buf.is_empty() {
            if let Some((header, len)) = parse(&buf)? {
                buf.advance(len);
                return Ok(ProxyStream::new(io, buf.freeze(), Some(header)));
            }
        }
        if buf.len() >= settings.max_header_len {
            return Err(ProxyError::TooLong(settings.max_header_len));
        }
        // Never read past the bound: what follows the header is the framer's.
        let room = settings.max_header_len - buf.len();
        buf.reserve(room.min(4096));
        let n = (&mut io)
            .take(room as u64)
            .read_buf(&mut buf)
            .await
            .map_err(ProxyError::Io)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                ProxyError::Missing
            } else {
                ProxyError::Invalid("the stream ended inside the header".into())
            });
        }
    }
}

/// True while `buf` is a prefix of a header or starts like one.
fn could_be_header(buf: &[u8]) -> bool {
    starts_like(buf, V1_PREFIX) || starts_like(buf, V2_SIGNATURE)
}

/// True if `buf` and `prefix` agree on their common length.
fn starts_like(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    buf[..n] == prefix[..n]
}

/// (source, destination) of an IPv4 header, v1 or v2 (ppp shares the type).
fn v4(ip: &v2::IPv4) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::from((ip.source_address, ip.source_port)),
        SocketAddr::from((ip.destination_address, ip.destination_port)),
    )
}

/// (source, destination) of an IPv6 header, v1 or v2.
fn v6(ip: &v2::IPv6) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::from((ip.source_address, ip.source_port)),
        SocketAddr::from((ip.destination_address, ip.destination_port)),
    )
}

/// The longest v1 header, CRLF included (the spec's bound).
const V1_MAX: usize = 107;

/// The header at the start of `buf` and its length, or `None` if more is needed.
///
/// A v2 header says its length, so ppp's incremental parse decides. A v1 header is
/// parsed only once its CRLF has arrived: cut anywhere before it (inside the last
/// port, between CR and LF) a prefix can look like a complete but wrong header.
fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    if starts_like(buf, V2_SIGNATURE) {
        let result = v2::Header::try_from(buf);
        if result.is_incomplete() {
            return Ok(None);
        }
        return match result {
            Ok(header) => v2_header(&header).map(Some),
            Err(err) => Err(ProxyError::Invalid(format!("v2: {err}"))),
        };
    }
    if !starts_like(buf, V1_PREFIX) {
        return Err(ProxyError::Missing);
    }
    let Some(end) = memchr::memmem::find(buf, b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::Invalid(format!(
                "v1: no CRLF within {V1_MAX} bytes"
            )))
        } else {
            Ok(None)
        };
    };
    let len = end + 2;
    if len > V1_MAX {
        return Err(ProxyError::Invalid(format!(
            "v1: longer than {V1_MAX} bytes"
        )));
    }
    match v1::Header::try_from(&buf[..len]) {
        Ok(header) => {
            let addresses = match header.addresses {
                v1::Addresses::Tcp4(ip) => Some(v4(&ip)),
                v1::Addresses::Tcp6(ip) => Some(v6(&ip)),
                v1::Addresses::Unknown => None,
            };
            Ok(Some((
                ProxyHeader::new(1, ProxyCommand::Proxy, addresses, Vec::new()),
                len,
            )))
        }
        Err(err) => Err(ProxyError::Invalid(format!("v1: {err}"))),
    }
}

/// A parsed v2 header as ours, and its length.
fn v2_header(header: &v2::Header<'_>) -> Result<(ProxyHeader, usize), ProxyError> {
    let command = match header.command {
        v2::Command::Proxy => ProxyCommand::Proxy,
        v2::Command::Local => ProxyCommand::Local,
    };
    let addresses = match header.addresses {
        v2::Addresses::IPv4(ip) => Some(v4(&ip)),
        v2::Addresses::IPv6(ip) => Some(v6(&ip)),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    };
    let mut tlvs = Vec::new();
    for tlv in header.tlvs() {
        let tlv = tlv.map_err(|err| ProxyError::Invalid(format!("TLV: {err}")))?;
        tlvs.push((tlv.kind, Bytes::copy_from_slice(&tlv.value)));
    }
    Ok((ProxyHeader::new(2, command, addresses, tlvs), header.len()))
}

/// A stream after its PROXY header: the bytes read past the header first, then the
/// stream itself; [`Io::proxy_header`] gives the header.
pub struct ProxyStream<I> {
    inner: I,
    rest: Bytes,
    header: Option<ProxyHeader>,
}

impl<I> ProxyStream<I> {
    fn new(inner: I, rest: Bytes, header: Option<ProxyHeader>) -> Self {
        ProxyStream {
            inner,
            rest,
            header,
        }
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

/// Why a stream's PROXY header was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// The stream does not start with a PROXY header (and the header is required).
    Missing,
    /// The header is malformed.
    Invalid(String),
    /// The header is longer than the bound (in bytes).
    TooLong(usize),
    /// The header did not arrive in time.
    Timeout(Duration),
    /// Reading the header failed.
    Io(io::Error),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Missing => f.write_str("no PROXY protocol header"),
            ProxyError::Invalid(why) => write!(f, "invalid PROXY protocol header: {why}"),
            ProxyError::TooLong(limit) => {
                write!(f, "PROXY protocol header longer than {limit} bytes")
            }
            ProxyError::Timeout(after) => {
                write!(f, "no PROXY protocol header within {after:?}")
            }
            ProxyError::Io(_) => f.write_str("I/O error reading the PROXY protocol header"),
        }
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProxyError::Io(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend(((addresses.len() + tlvs.len()) as u16).to_be_bytes());
        out.extend(addresses);
        out.extend(tlvs);
        out
    }

    #[test]
    fn v1_and_v2_headers_give_addresses_and_their_length() {
        let text = b"PROXY TCP4 192.0.2.1 198.51.100.2 4000 443\r\nhello";
        let (header, len) = parse(text).unwrap().unwrap();
        assert_eq!(&text[len..], b"hello");
        assert_eq!(header.version(), 1);
        assert_eq!(header.source(), Some("192.0.2.1:4000".parse().unwrap()));
        assert_eq!(
            header.destination(),
            Some("198.51.100.2:443".parse().unwrap())
        );

        let addresses = [192, 0, 2, 1, 198, 51, 100, 2, 0x0f, 0xa0, 0x01, 0xbb];
        let tlv = [0x02, 0, 3, b'a', b'.', b'b'];
        let mut binary = v2(1, 0x11, &addresses, &tlv);
        binary.extend(b"rest");
        let (header, len) = parse(&binary).unwrap().unwrap();
        assert_eq!(&binary[len..], b"rest");
        assert_eq!(header.version(), 2);
        assert_eq!(header.source(), Some("192.0.2.1:4000".parse().unwrap()));
        assert_eq!(header.authority(), Some("a.b"));

        let (local, _) = parse(&v2(0, 0x00, &[], &[])).unwrap().unwrap();
        assert_eq!(local.command(), ProxyCommand::Local);
        assert_eq!(local.source(), None);
    }

    #[test]
    fn partial_headers_ask_for_more_and_garbage_is_refused() {
        let text = b"PROXY TCP4 192.0.2.1 198.51.100.2 4000 443\r\n";
        for cut in 1..text.len() {
            assert!(parse(&text[..cut]).unwrap().is_none(), "cut {cut}");
        }
        let binary = v2(1, 0x11, &[192, 0, 2, 1, 198, 51, 100, 2, 0, 1, 0, 2], &[]);
        for cut in 1..binary.len() {
            assert!(parse(&binary[..cut]).unwrap().is_none(), "cut {cut}");
        }
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(ProxyError::Missing)
        ));
        assert!(matches!(
            parse(b"PROXY TCP9 x y 1 2\r\n"),
            Err(ProxyError::Invalid(_))
        ));
        assert!(!could_be_header(b"HELO"));
        assert!(could_be_header(b"PRO"));
        assert!(could_be_header(b"\r\n\r\n"));
    }

    /// Arbitrary bytes never panic the parser, whatever their length.
    #[test]
    fn arbitrary_input_never_panics() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..20_000 {
            let len = round % 300;
            let mut input = Vec::with_capacity(len + 16);
            if round % 3 == 0 {
                input.extend(V2_SIGNATURE);
            } else if round % 3 == 1 {
                input.extend(V1_PREFIX);
            }
            for _ in 0..len {
                // xorshift: deterministic, no dependency.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                input.push(state as u8);
            }
            let _ = parse(&input);
        }
    }
}
