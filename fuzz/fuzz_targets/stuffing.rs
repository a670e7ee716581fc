#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::StuffingFramer;

fuzz_target!(|data: &[u8]| {
    tendril_net_fuzz::check(|| StuffingFramer::new().max_frame_length(256), data);
    // A custom marker set, when the input chooses a valid one.
    let [p0, p1, begin, end, nop, data @ ..] = data else { return };
    let build = || {
        StuffingFramer::builder()
            .prefix([*p0, *p1])
            .begin(*begin)
            .end(*end)
            .nop(*nop)
            .max_frame_length(256)
            .build()
    };
    if build().is_ok() {
        tendril_net_fuzz::check(|| build().unwrap(), data);
    }
});
