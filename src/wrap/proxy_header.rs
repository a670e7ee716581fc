//! What a PROXY protocol header said about a connection: the data type, without the
//! parser (which is the `proxy-protocol` feature's).

use std::net::SocketAddr;

use bytes::Bytes;

/// PROXY protocol v2 TLV types the accessors read (see the spec's section 2.2).
const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
const PP2_CLIENT_SSL: u8 = 0x01;

/// What a PROXY header carried: `PROXY` (a relayed connection, with the client's
/// addresses) or `LOCAL` (the proxy's own connection, a health check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyCommand {
    /// The connection is relayed for a client.
    Proxy,
    /// The proxy speaks for itself (a health check): the socket's addresses stand.
    Local,
}

/// The PROXY protocol header a load balancer sent at the start of a connection
/// (version 1 or 2), on [`Tendril::proxy`](crate::Tendril::proxy).
///
/// When it carries IP addresses, the connection's `remote_addr` is [`source`](Self::source)
/// (the client) and its `local_addr` [`destination`](Self::destination) (the address
/// the client connected to); a `LOCAL` header, `UNKNOWN` (v1) or an unspecified or Unix
/// address family (v2) leave the socket's own addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    version: u8,
    command: ProxyCommand,
    addresses: Option<(SocketAddr, SocketAddr)>,
    tlvs: Vec<(u8, Bytes)>,
    /// From a trusted source (false: read so that the application does not see it,
    /// but not believed).
    trusted: bool,
}

impl ProxyHeader {
    /// A header as parsed: `version` 1 or 2, the command, the (source, destination)
    /// addresses if IP, and the v2 TLVs in order.
    pub fn new(
        version: u8,
        command: ProxyCommand,
        addresses: Option<(SocketAddr, SocketAddr)>,
        tlvs: Vec<(u8, Bytes)>,
    ) -> Self {
        ProxyHeader {
            version,
            command,
            addresses,
            tlvs,
            trusted: true,
        }
    }

    /// The same header, from a source not trusted to send one.
    #[cfg(feature = "proxy-protocol")]
    pub(crate) fn untrusted(self) -> Self {
        ProxyHeader {
            trusted: false,
            ..self
        }
    }

    /// False for a header read from a source not trusted to send one: the engine
    /// ignores it (and counts it).
    pub(crate) fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// 1 for the text format, 2 for the binary one.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// `PROXY` or `LOCAL` (v1 headers are always `PROXY`).
    pub fn command(&self) -> ProxyCommand {
        self.command
    }

    /// The client's address, for a `PROXY` header with IP addresses.
    pub fn source(&self) -> Option<SocketAddr> {
        self.relayed().map(|(source, _)| source)
    }

    /// The address the client connected to (the load balancer's), for a `PROXY`
    /// header with IP addresses.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.relayed().map(|(_, destination)| destination)
    }

    /// (source, destination) when they replace the socket's addresses.
    pub(crate) fn relayed(&self) -> Option<(SocketAddr, SocketAddr)> {
        match self.command {
            ProxyCommand::Proxy => self.addresses,
            ProxyCommand::Local => None,
        }
    }

    /// Every TLV of a v2 header, as (type, value), in order (none for v1).
    pub fn tlvs(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.tlvs.iter().map(|(kind, value)| (*kind, &value[..]))
    }

    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs()
            .find(|(k, _)| *k == kind)
            .map(|(_, value)| value)
    }

    /// The ALPN protocol the client negotiated with the proxy (`PP2_TYPE_ALPN`).
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(PP2_TYPE_ALPN)
    }

    /// The host name the client asked for (`PP2_TYPE_AUTHORITY`, the TLS SNI).
    pub fn authority(&self) -> Option<&str> {
        self.tlv(PP2_TYPE_AUTHORITY)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// The proxy's id for this connection (`PP2_TYPE_UNIQUE_ID`, as AWS NLB and
    /// HAProxy's `unique-id` send it).
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv(PP2_TYPE_UNIQUE_ID)
    }

    /// What the proxy says of the client's TLS session, if it terminated one
    /// (`PP2_TYPE_SSL`).
    pub fn ssl(&self) -> Option<ProxySsl> {
        ProxySsl::parse(self.tlv(PP2_TYPE_SSL)?)
    }
}

/// The `PP2_TYPE_SSL` TLV: the client's TLS session as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxySsl {
    /// The client connected over TLS.
    pub tls: bool,
    /// The client presented a certificate and it was verified.
    pub verified: bool,
    /// The TLS version (`PP2_SUBTYPE_SSL_VERSION`, such as "TLSv1.3").
    pub version: Option<String>,
    /// The client certificate's common name (`PP2_SUBTYPE_SSL_CN`).
    pub common_name: Option<String>,
    /// The cipher (`PP2_SUBTYPE_SSL_CIPHER`).
    pub cipher: Option<String>,
}

impl ProxySsl {
    /// Parses the TLV's value: client flags (1 byte), verify (4 bytes, 0 = verified),
    /// then sub-TLVs (type, 2-byte length, value). Malformed sub-TLVs end the list.
    fn parse(value: &[u8]) -> Option<ProxySsl> {
        let (&client, rest) = value.split_first()?;
        let verify = rest.get(..4)?;
        let mut ssl = ProxySsl {
            tls: client & PP2_CLIENT_SSL != 0,
            verified: verify == [0, 0, 0, 0],
            version: None,
            common_name: None,
            cipher: None,
        };
        let mut sub = &rest[4..];
        while let [kind, high, low, tail @ ..] = sub {
            let len = usize::from(u16::from_be_bytes([*high, *low]));
            let Some(value) = tail.get(..len) else { break };
            let text = String::from_utf8_lossy(value).into_owned();
            match *kind {
                PP2_SUBTYPE_SSL_VERSION => ssl.version = Some(text),
                PP2_SUBTYPE_SSL_CN => ssl.common_name = Some(text),
                PP2_SUBTYPE_SSL_CIPHER => ssl.cipher = Some(text),
                _ => {}
            }
            sub = &tail[len..];
        }
        Some(ssl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_headers_do_not_replace_addresses() {
        let pair = (
            "192.0.2.1:4000".parse().unwrap(),
            "198.51.100.2:443".parse().unwrap(),
        );
        let relayed = ProxyHeader::new(2, ProxyCommand::Proxy, Some(pair), Vec::new());
        assert_eq!(relayed.source(), Some(pair.0));
        assert_eq!(relayed.destination(), Some(pair.1));
        let local = ProxyHeader::new(2, ProxyCommand::Local, Some(pair), Vec::new());
        assert_eq!(local.source(), None);
    }

    #[test]
    fn tlvs_are_read_including_ssl_sub_tlvs() {
        let mut ssl = vec![PP2_CLIENT_SSL, 0, 0, 0, 0];
        ssl.extend([PP2_SUBTYPE_SSL_VERSION, 0, 7]);
        ssl.extend(b"TLSv1.3");
        ssl.extend([PP2_SUBTYPE_SSL_CN, 0, 200]); // longer than what is left: ignored
        let header = ProxyHeader::new(
            2,
            ProxyCommand::Proxy,
            None,
            vec![
                (PP2_TYPE_ALPN, Bytes::from_static(b"h2")),
                (PP2_TYPE_AUTHORITY, Bytes::from_static(b"example.net")),
                (PP2_TYPE_SSL, Bytes::from(ssl)),
                (PP2_TYPE_UNIQUE_ID, Bytes::from_static(b"\x01\x02")),
            ],
        );
        assert_eq!(header.unique_id(), Some(&b"\x01\x02"[..]));
        assert_eq!(header.alpn(), Some(&b"h2"[..]));
        assert_eq!(header.authority(), Some("example.net"));
        let ssl = header.ssl().unwrap();
        assert!(ssl.tls && ssl.verified);
        assert_eq!(ssl.version.as_deref(), Some("TLSv1.3"));
        assert_eq!(ssl.common_name, None);
        assert_eq!(header.tlvs().count(), 4);
    }
}
