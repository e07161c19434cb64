//! Live MIDI input (DIN serial and USB): every byte through one parser, each event it completes
//! mapped to an engine action as the inputs do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use open_nsynth::midi::{ChannelFilter, MidiMapping, MidiParser};

const MAPPING: MidiMapping = MidiMapping {
    channels: ChannelFilter::Omni,
    pitch_bend_range: 2.0,
};

fuzz_target!(|data: &[u8]| {
    let mut parser = MidiParser::default();
    for &byte in data {
        if let Some(event) = parser.feed(byte) {
            assert!(event.channel() < 16, "{event:?}");
            MAPPING.action(&event);
        }
    }
    assert!(parser.dropped() <= data.len() as u64);
});
