//! The settings files this project writes itself, next to the demo pad and next to the pads the
//! host tools make: the original schema, with the `nsynth` section and the corners describing
//! those pads and the shipped file's values everywhere else, so the device reads them without a
//! warning. It never reads or validates a settings file.

use serde_json::{json, Value};

use super::Instrument;
use crate::pad::PadLayout;

/// A settings document for pads of `layout` at `sample_rate` Hz with `corners` (device order:
/// top-left, top-right, bottom-left, bottom-right), stored in `data_directory` relative to the
/// settings file. Pads loop over the shipped region; audio, MIDI and OSC take the shipped values.
pub fn settings_for_pads(
    data_directory: &str,
    layout: &PadLayout,
    sample_rate: u32,
    corners: &[Vec<Instrument>; 4],
) -> Value {
    let corners: Vec<Value> = corners
        .iter()
        .map(|corner| {
            let instruments: Vec<Value> = corner
                .iter()
                .map(|i| json!({"name": i.name, "display": i.display, "abbr": i.abbr}))
                .collect();
            json!({ "instruments": instruments })
        })
        .collect();
    json!({
        "nsynth": {
            "dataDirectory": data_directory,
            "resolution": layout.resolution,
            "pitches": layout.pitches,
            "length": layout.length,
            "sampleRate": sample_rate,
            "looping": true,
            "loopStart": 0.2,
            "loopEnd": 0.41
        },
        "corners": corners,
        "audio": { "sampleRate": 48000, "bufferSize": 128 },
        "midi": { "channel": 1 },
        "osc": { "in": { "port": 8000 } }
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::settings::Settings;

    fn instrument(name: &str) -> Instrument {
        Instrument {
            name: name.into(),
            display: name.to_uppercase(),
            abbr: name[..2].to_uppercase(),
        }
    }

    #[test]
    fn the_device_reads_back_the_pads_described_without_a_warning() {
        let layout = PadLayout {
            resolution: 3,
            pitches: vec![48, 60],
            length: 64,
        };
        let corners = [
            vec![instrument("flute")],
            vec![instrument("brass")],
            vec![instrument("reed"), instrument("organ")],
            vec![instrument("bell")],
        ];
        let text = settings_for_pads("pads", &layout, 22050, &corners).to_string();
        let settings = Settings::from_json(&text, Path::new("/sd/settings.json")).unwrap();
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
        assert_eq!(settings.pad.layout, layout);
        assert_eq!(settings.pad.sample_rate, 22050);
        assert_eq!(settings.pad.data_directory, Path::new("/sd/pads"));
        assert_eq!(settings.corners, corners);
    }

    #[test]
    fn everything_else_holds_the_shipped_values() {
        let shipped: Value = serde_json::from_str(include_str!("../../settings.json")).unwrap();
        let written = settings_for_pads(
            "",
            &PadLayout {
                resolution: 9,
                pitches: vec![60],
                length: 100,
            },
            16000,
            &Default::default(),
        );
        for key in [
            "/nsynth/looping",
            "/nsynth/loopStart",
            "/nsynth/loopEnd",
            "/audio",
            "/midi/channel",
            "/osc",
        ] {
            assert_eq!(written.pointer(key), shipped.pointer(key), "{key}");
        }
    }
}
