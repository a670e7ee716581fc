#![no_main]
//! Frames of a stream decoded by a FramerSwitch that changes its receive framer after
//! every frame, as chosen by the input, fed whole and in pieces: same outcome, no panic.
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tendril_net::framer::{
    CobsFramer, DotFramer, FramerSwitch, LengthFramer, LineFramer, NetstringFramer,
};
use tokio_util::codec::Decoder;

fn switch_to(framers: &mut FramerSwitch, choice: u8) {
    match choice % 5 {
        0 => framers.set_recv_framer(LineFramer::new().max_frame_length(64)),
        1 => framers.set_recv_framer(DotFramer::new().max_frame_length(256)),
        2 => framers.set_recv_framer(CobsFramer::new().max_frame_length(256)),
        3 => framers.set_recv_framer(NetstringFramer::new().max_frame_length(256)),
        _ => framers.set_recv_framer(LengthFramer::default().max_frame_length(256)),
    }
}

fn run(choices: &[u8], input: &[u8], piece: usize) -> (Vec<Bytes>, bool) {
    let mut framers = FramerSwitch::symmetric(LineFramer::new().max_frame_length(64));
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in input.chunks(piece.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match framers.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let choice = choices.get(frames.len() % choices.len().max(1)).copied().unwrap_or(0);
                    switch_to(&mut framers, choice);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, data)) = data.split_first() else { return };
    let (choices, input) = data.split_at(data.len().min(8));
    let whole = run(choices, input, input.len());
    let cut = run(choices, input, usize::from(piece % 16) + 1);
    assert_eq!(whole, cut);
});
