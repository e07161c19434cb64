//! `settings.json` as written on disk: the original schema, every key optional so that a missing
//! or `null` key can take the original's default. Only parsed here; `super` validates.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawSettings {
    /// Present in the shipped file and never read by the original; accepted so it is not reported.
    #[serde(rename = "debug")]
    pub _debug: Option<serde_json::Value>,
    pub nsynth: Option<RawNsynth>,
    pub corners: Option<Vec<RawCorner>>,
    pub audio: Option<RawAudio>,
    pub midi: Option<RawMidi>,
    pub osc: Option<RawOsc>,
    #[serde(rename = "patchFile")]
    pub patch_file: Option<String>,
    pub engine: Option<RawEngine>,
    /// The board description to use (`boards/NAME.toml`).
    pub board: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawNsynth {
    pub data_directory: Option<String>,
    pub resolution: Option<u32>,
    pub pitches: Option<Vec<i64>>,
    pub length: Option<u32>,
    pub sample_rate: Option<u32>,
    pub looping: Option<bool>,
    pub loop_start: Option<f64>,
    pub loop_end: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCorner {
    pub instruments: Option<Vec<RawInstrument>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawInstrument {
    pub name: Option<String>,
    pub display: Option<String>,
    pub abbr: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawAudio {
    pub sample_rate: Option<u32>,
    pub buffer_size: Option<u32>,
    pub device_id: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawMidi {
    pub device: Option<String>,
    pub channel: Option<i64>,
    /// Listen on every channel.
    pub omni: Option<bool>,
    /// Pitch-bend range in semitones each way.
    pub pitch_bend_range: Option<f64>,
    /// Control name to CC number or null; checked by [`crate::midi::CcMap::from_json`].
    pub cc: Option<serde_json::Value>,
    /// Whole semitones every note is shifted.
    pub transpose: Option<f64>,
    /// Cents every note is shifted.
    pub fine_tune: Option<f64>,
    /// `"linear"`, `"soft"`, `"hard"` or a fixed velocity 1–127.
    pub velocity_curve: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawOsc {
    #[serde(rename = "in")]
    pub input: Option<RawOscIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawOscIn {
    pub port: Option<u16>,
    /// The key the shipped file uses; the original never read it.
    pub port_number: Option<u16>,
    /// Address to bind; the original listened on all interfaces.
    pub address: Option<String>,
}

/// Options this runtime adds; every one defaults to the original's sound.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEngine {
    pub envelope_time_base: Option<String>,
    pub loop_mode: Option<String>,
    pub grid_interpolation: Option<bool>,
    pub limiter: Option<bool>,
}
