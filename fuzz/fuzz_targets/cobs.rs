#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::CobsFramer;

fuzz_target!(|data: &[u8]| {
    tendril_net_fuzz::check(|| CobsFramer::new().max_frame_length(600), data);
});
