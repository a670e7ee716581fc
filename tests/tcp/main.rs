//! TCP connections end to end over loopback sockets.

mod support;

mod backpressure;
mod budget;
mod call_timeout;
mod close;
mod echo;
mod handover;
mod limits;
mod messages;
mod middleware;
mod order;
#[cfg(feature = "proxy-protocol")]
mod proxy;
mod readiness;
mod registry;
mod shed;
mod shutdown;
mod slow_peers;
pub mod sources;
#[cfg(feature = "tls")]
mod starttls;
mod switch;
#[cfg(feature = "tls")]
mod tls;
mod typed;
