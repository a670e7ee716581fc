//! The example programs as real processes, against the real tools users have, and the
//! README's first example built as pasted. One test binary: each binary more is
//! another link of the crate and tokio.

#[path = "../support/mod.rs"]
mod support;

mod attack;
mod binary_lines;
mod chat;
mod deploy;
mod dns;
mod echo;
mod framecat;
#[cfg(feature = "proxy-protocol")]
mod haproxy;
mod help;
mod jsonrpc;
mod kv;
mod memcache;
#[cfg(feature = "metrics")]
mod metrics;
mod quic;
mod readme;
mod signals;
mod smtp;
mod sources;
mod stdio;
mod tls_echo;
mod udp_burst;
