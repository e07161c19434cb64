//! Standard MIDI Files for `render`: any bytes through the reader that turns them into timed
//! engine actions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use open_nsynth::render::{midi_file, ChannelFilter};

fuzz_target!(|data: &[u8]| {
    let _ = midi_file::read(data, 48_000, ChannelFilter::Omni);
});
