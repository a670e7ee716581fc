#![no_main]
//! See `tendril_net_fuzz::content_length`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tendril_net_fuzz::content_length(data));
