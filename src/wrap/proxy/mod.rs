//! The PROXY protocol (v1 and v2) wrapper (feature `proxy-protocol`), in tower's shape:
//! [`ProxyProtocolLayer`] holds the settings and builds [`ProxyProtocol`], which reads
//! the header a load balancer sends at the very start of a connection (`parse`), so the
//! connection's addresses are the client's, and hands on a [`ProxyStream`].

mod error;
mod layer;
mod parse;
mod service;
mod stream;

pub use error::ProxyError;
pub use layer::ProxyProtocolLayer;
pub use service::ProxyProtocol;
pub use stream::ProxyStream;
