//! Reading and parsing a PROXY protocol header (v1 text, v2 binary), with the `ppp`
//! crate doing the parsing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use ppp::{v1, v2, PartialResult};
use tokio::io::AsyncReadExt;

use super::error::ProxyError;
use super::stream::ProxyStream;
use crate::wrap::{Io, ProxyCommand, ProxyHeader};

/// The v2 signature, and the v1 text prefix.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 header (the spec's 107 bytes) and the longest v2 header with IP or
/// Unix addresses and no TLV (16 + 216): the smallest bound that accepts every header
/// without TLVs.
pub(super) const MIN_HEADER_BOUND: usize = 16 + 216;

/// Reads until a whole header (or, when optional, a non-header start) is buffered;
/// `began` is set once the first bytes are in.
pub(super) async fn read_header<I: Io + Unpin>(
    mut io: I,
    max_header_length: usize,
    optional: bool,
    began: &AtomicBool,
) -> Result<ProxyStream<I>, ProxyError> {
    let mut buf = BytesMut::with_capacity(256);
    loop {
        if optional && !could_be_header(&buf) {
            return Ok(ProxyStream::new(io, buf.freeze(), None));
        }
        if !buf.is_empty() {
            if let Some((header, len)) = parse(&buf, max_header_length)? {
                buf.advance(len);
                return Ok(ProxyStream::new(io, buf.freeze(), Some(header)));
            }
        }
        if buf.len() >= max_header_length {
            return Err(ProxyError::TooLong(max_header_length));
        }
        // Never read past the bound: what follows the header is the framer's.
        let room = max_header_length - buf.len();
        buf.reserve(room.min(4096));
        let n = (&mut io)
            .take(room as u64)
            .read_buf(&mut buf)
            .await
            .map_err(ProxyError::Io)?;
        began.store(true, Ordering::Relaxed);
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
/// A v2 header says its length, so ppp's incremental parse decides; a length beyond
/// `max_header_length` is refused as soon as it is read, not after waiting for bytes
/// that could never be accepted. A v1 header is parsed only once its CRLF has
/// arrived (cut anywhere before it, inside the last port or between CR and LF, a
/// prefix can look like a complete but wrong header); a byte no v1 header holds (a
/// line feed without its carriage return, a control character) is refused at once.
fn parse(buf: &[u8], max_header_length: usize) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    if starts_like(buf, V2_SIGNATURE) {
        if let Some(length) = buf.get(14..16) {
            let total = 16 + usize::from(u16::from_be_bytes([length[0], length[1]]));
            if total > max_header_length {
                return Err(ProxyError::TooLong(max_header_length));
            }
        }
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
    // Printable ASCII, spaces, and the CR of the final CRLF (with its LF) only.
    let stray = buf.iter().enumerate().position(|(at, &byte)| match byte {
        b' '..=b'~' => false,
        b'\r' => buf.get(at + 1).is_some_and(|&next| next != b'\n'),
        b'\n' => at == 0 || buf[at - 1] != b'\r',
        _ => true,
    });
    if let Some(at) = stray.filter(|&at| memchr::memmem::find(&buf[..at], b"\r\n").is_none()) {
        return Err(ProxyError::Invalid(format!(
            "v1: byte {:#04x} at {at} (a header is printable text ending in CRLF)",
            buf[at]
        )));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrap::ProxyCommand;

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
        let (header, len) = parse(text, 4096).unwrap().unwrap();
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
        let (header, len) = parse(&binary, 4096).unwrap().unwrap();
        assert_eq!(&binary[len..], b"rest");
        assert_eq!(header.version(), 2);
        assert_eq!(header.source(), Some("192.0.2.1:4000".parse().unwrap()));
        assert_eq!(header.authority(), Some("a.b"));

        let (local, _) = parse(&v2(0, 0x00, &[], &[]), 4096).unwrap().unwrap();
        assert_eq!(local.command(), ProxyCommand::Local);
        assert_eq!(local.source(), None);
    }

    #[test]
    fn partial_headers_ask_for_more_and_garbage_is_refused() {
        let text = b"PROXY TCP4 192.0.2.1 198.51.100.2 4000 443\r\n";
        for cut in 1..text.len() {
            assert!(parse(&text[..cut], 4096).unwrap().is_none(), "cut {cut}");
        }
        let binary = v2(1, 0x11, &[192, 0, 2, 1, 198, 51, 100, 2, 0, 1, 0, 2], &[]);
        for cut in 1..binary.len() {
            assert!(parse(&binary[..cut], 4096).unwrap().is_none(), "cut {cut}");
        }
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n", 4096),
            Err(ProxyError::Missing)
        ));
        assert!(matches!(
            parse(b"PROXY TCP9 x y 1 2\r\n", 4096),
            Err(ProxyError::Invalid(_))
        ));
        assert!(!could_be_header(b"HELO"));
        assert!(could_be_header(b"PRO"));
        assert!(could_be_header(b"\r\n\r\n"));
    }

    #[test]
    fn impossible_headers_are_refused_before_the_rest_arrives() {
        // A v2 header announcing 65,535 bytes, of which nothing more has come.
        let mut binary = V2_SIGNATURE.to_vec();
        binary.extend([0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(
            parse(&binary, 4096),
            Err(ProxyError::TooLong(4096))
        ));
        assert!(parse(&binary[..15], 4096).unwrap().is_none());
        // A v1 line ending in LF alone, or holding a control character.
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"[..],
            b"PROXY TCP4 1.2.3.4\0",
            b"PROXY \r ",
        ] {
            assert!(
                matches!(parse(bad, 4096), Err(ProxyError::Invalid(_))),
                "{bad:?}"
            );
        }
        // A CR at the very end may still get its LF.
        assert!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 4096)
            .unwrap()
            .is_none());
        // What follows a complete header is not the header's business.
        let text = b"PROXY TCP4 192.0.2.1 198.51.100.2 4000 443\r\n\0\n";
        assert!(parse(text, 4096).unwrap().is_some());
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
            let _ = parse(&input, 4096);
        }
    }
}
