#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::ChunkFramer;

fuzz_target!(|data: &[u8]| {
    let Some((&n, data)) = data.split_first() else { return };
    let n = usize::from(n).min(data.len());
    let (frames, failed) = tendril_net_fuzz::decode_pieces(&mut ChunkFramer::new(n as u64), data, &data[..data.len().min(3)]);
    assert!(!failed);
    assert_eq!(frames.concat(), &data[..n]);
});
