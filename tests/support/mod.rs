//! Helpers shared by the test crates: bounded waits and loopback addresses (`net`), and
//! the example programs run as processes (`examples`).

// Each test crate uses some of these helpers.
#![allow(dead_code, unused_imports)]

mod examples;
mod net;

pub use examples::*;
pub use net::*;
