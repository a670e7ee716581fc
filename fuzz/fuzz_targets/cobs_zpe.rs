#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::CobsZpeFramer;

fuzz_target!(|data: &[u8]| {
    tendril_net_fuzz::check(|| CobsZpeFramer::new().max_frame_length(600), data);
});
