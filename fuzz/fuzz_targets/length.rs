#![no_main]
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::{ByteOrder, LengthFramer, LengthPrefix};

const PREFIXES: [LengthPrefix; 8] = [
    LengthPrefix::U8,
    LengthPrefix::U16,
    LengthPrefix::U32,
    LengthPrefix::U64,
    LengthPrefix::I8,
    LengthPrefix::I16,
    LengthPrefix::I32,
    LengthPrefix::I64,
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, data)) = data.split_first() else { return };
    let prefix = PREFIXES[usize::from(choice) % PREFIXES.len()];
    let order = if choice & 0x80 == 0 { ByteOrder::BigEndian } else { ByteOrder::LittleEndian };
    tendril_net_fuzz::check(|| LengthFramer::new(prefix, order).max_frame_length(1024), data);
});
