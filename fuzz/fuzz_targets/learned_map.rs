//! Learned MIDI maps (`midi-map.json`): any bytes through the reader; a map it accepts writes
//! out and reads back as the same map.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use open_nsynth::midi::{learned_from_bytes, CcMap};

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = learned_from_bytes(Path::new("midi-map.json"), data) {
        assert_eq!(CcMap::from_json(&map.to_json()).ok(), Some(map));
    }
});
