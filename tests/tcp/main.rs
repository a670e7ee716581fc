//! TCP connections end to end over loopback sockets.

mod support;

mod backpressure;
mod close;
mod echo;
mod limits;
mod middleware;
mod registry;
mod shutdown;
mod switch;
