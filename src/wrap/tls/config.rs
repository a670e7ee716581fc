//! TLS configurations for the wrappers, with rustls's `ring` provider, and what a
//! session tells about its peer.

use std::sync::Arc;

use bytes::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{self, ClientConfig, CommonState, RootCertStore, ServerConfig};

use crate::error::Error;
use crate::wrap::TlsInfo;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config for a certificate chain and its private key, both PEM (the leaf
/// certificate first), with the `ring` provider, TLS 1.2 and 1.3, no client
/// authentication.
///
/// # Errors
///
/// [`Error::is_config`] if the PEM holds no certificate or no key, or rustls refuses
/// them (a key that does not match the certificate).
pub fn tls_server_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, Error> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::config)?;
    if chain.is_empty() {
        return Err(Error::config("no certificate in the PEM"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(Error::config)?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(Error::config)
}

/// A client config that trusts the certificates in `roots_pem` (a private CA, or a
/// server's self-signed certificate), with the `ring` provider.
///
/// # Errors
///
/// [`Error::is_config`] if the PEM holds no usable certificate.
pub fn tls_client_config(roots_pem: &[u8]) -> Result<ClientConfig, Error> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem) {
        roots
            .add(cert.map_err(Error::config)?)
            .map_err(Error::config)?;
    }
    if roots.is_empty() {
        return Err(Error::config("no certificate in the PEM"));
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::config)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What both sides of a session tell.
pub(super) fn session_info(session: &CommonState) -> TlsInfo {
    TlsInfo {
        peer_certificates: session
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|cert| Bytes::copy_from_slice(cert))
            .collect(),
        alpn_protocol: session.alpn_protocol().map(Bytes::copy_from_slice),
        server_name: None,
        protocol_version: session.protocol_version().and_then(|v| v.as_str()),
    }
}
