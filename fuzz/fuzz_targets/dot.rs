#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::DotFramer;

fuzz_target!(|data: &[u8]| {
    tendril_net_fuzz::check(|| DotFramer::new().max_frame_length(512), data);
});
