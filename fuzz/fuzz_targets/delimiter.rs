#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::DelimiterFramer;

fuzz_target!(|data: &[u8]| {
    let Some((&len, data)) = data.split_first() else { return };
    let len = usize::from(len % 4) + 1;
    if data.len() < len {
        return;
    }
    let (delimiter, data) = data.split_at(len);
    tendril_net_fuzz::check(|| DelimiterFramer::new(delimiter).max_frame_length(128), data);
});
