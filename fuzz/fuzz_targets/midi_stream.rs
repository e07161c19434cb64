//! Live MIDI input (DIN serial and USB): every byte through one parser, each event it completes
//! mapped to an engine action as the inputs do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use open_nsynth::midi::{to_action, ChannelFilter, MidiParser};

fuzz_target!(|data: &[u8]| {
    let mut parser = MidiParser::default();
    for &byte in data {
        if let Some(event) = parser.feed(byte) {
            assert!(event.channel() < 16, "{event:?}");
            to_action(&event, ChannelFilter::Omni, 2.0);
        }
    }
    assert!(parser.dropped() <= data.len() as u64);
});
