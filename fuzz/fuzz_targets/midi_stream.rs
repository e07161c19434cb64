//! Live MIDI input (DIN serial and USB): every byte through one parser, each event it completes
//! given its meaning as the inputs do, and control changes read through the default CC map as
//! the controller does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use open_nsynth::input::Input;
use open_nsynth::midi::{
    CcMap, CcReader, ChannelFilter, Meaning, MidiMapping, MidiParser, VelocityCurve,
};

const MAPPING: MidiMapping = MidiMapping {
    channels: ChannelFilter::Omni,
    pitch_bend_range: 2.0,
    velocity: VelocityCurve::Linear,
};

fuzz_target!(|data: &[u8]| {
    let map = CcMap::general_midi();
    let mut reader = CcReader::default();
    let mut parser = MidiParser::default();
    for &byte in data {
        if let Some(event) = parser.feed(byte) {
            assert!(event.channel() < 16, "{event:?}");
            if let Some(Meaning::Control(Input::Cc { controller, value })) = MAPPING.meaning(&event)
            {
                if let Some(moved) = reader.read(&map, controller, value) {
                    assert!((0.0..=1.0).contains(&moved.value), "{moved:?}");
                }
            }
        }
    }
    assert!(parser.dropped() <= data.len() as u64);
});
