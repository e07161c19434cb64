//! Settings files: any text through `Settings::from_json`, and the pad size that `--check` and the
//! loader compute from the layout it accepts.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use open_nsynth::settings::Settings;

fuzz_target!(|data: &[u8]| {
    // Settings files are read as UTF-8 text, so nothing else reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(settings) = Settings::from_json(text, Path::new("settings.json")) {
        std::hint::black_box(settings.pad.layout.file_bytes());
    }
});
