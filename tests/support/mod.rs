//! Shared by the integration tests: a small pad layout and engine configuration, and pads whose
//! every sample is one value so that levels can be read straight off the output.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod instrument;

use open_nsynth::engine::{EngineConfig, Knobs};
use open_nsynth::pad::PadLayout;

pub const LENGTH: usize = 16000;

pub fn layout() -> PadLayout {
    PadLayout {
        resolution: 3,
        pitches: vec![48, 60, 72],
        length: LENGTH,
    }
}

pub fn config() -> EngineConfig {
    EngineConfig::new(layout(), 16000, 48000)
}

/// Full volume and sustain, fastest envelope, notes from the start of the row.
pub fn open_knobs() -> Knobs {
    Knobs {
        position: 0.0,
        attack: 0.0,
        decay: 0.0,
        sustain: 1.0,
        release: 0.0,
        volume: 1.0,
    }
}
