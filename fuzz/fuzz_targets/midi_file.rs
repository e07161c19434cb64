//! Standard MIDI Files for `render`: any bytes through the reader that turns them into timed
//! meanings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use open_nsynth::midi::{MidiMapping, VelocityCurve};
use open_nsynth::render::{midi_file, ChannelFilter};

const MAPPING: MidiMapping = MidiMapping {
    channels: ChannelFilter::Omni,
    pitch_bend_range: 2.0,
    velocity: VelocityCurve::Linear,
};

fuzz_target!(|data: &[u8]| {
    let _ = midi_file::read(data, 48_000, &MAPPING);
});
