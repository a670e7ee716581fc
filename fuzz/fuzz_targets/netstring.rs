#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::NetstringFramer;

fuzz_target!(|data: &[u8]| {
    tendril_net_fuzz::check(|| NetstringFramer::new().max_frame_length(300), data);
});
