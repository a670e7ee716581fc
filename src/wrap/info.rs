//! What a connection's stream tells about its peer: a TLS session, the credentials of
//! a Unix socket peer.

use bytes::Bytes;

/// A connection's TLS session, as seen on its [`Tendril`](crate::Tendril) once a TLS
/// wrapper has completed the handshake ([`Tendril::tls`](crate::Tendril::tls)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The peer's certificate chain, DER-encoded, its own certificate first (empty when
    /// the peer sent none, as clients usually do not).
    pub peer_certificates: Vec<Bytes>,
    /// The ALPN protocol both sides agreed on.
    pub alpn_protocol: Option<Bytes>,
    /// On a server, the name the client asked for (SNI).
    pub server_name: Option<String>,
    /// The protocol version, such as `"TLSv1_3"`.
    pub protocol_version: Option<&'static str>,
}

/// The credentials of a Unix socket's peer process, as the kernel reports them when it
/// connected (`SO_PEERCRED`): see [`Tendril::peer_credentials`](crate::Tendril::peer_credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PeerCredentials {
    /// The peer's user id.
    pub uid: u32,
    /// The peer's group id.
    pub gid: u32,
    /// The peer's process id, where the system reports it.
    pub pid: Option<i32>,
}
