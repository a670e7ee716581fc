//! The client side end to end over loopback: pipelined and multiplexed clients as tower
//! services.

mod multiplexed;
mod peer;
mod pipelined;
mod reconnect;
mod support;
