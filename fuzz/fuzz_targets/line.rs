#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::LineFramer;

fuzz_target!(|data: &[u8]| {
    tendril_net_fuzz::check(|| LineFramer::new().max_frame_length(64), data);
    tendril_net_fuzz::check(|| LineFramer::lf().max_frame_length(64), data);
});
