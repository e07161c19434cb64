//! Simulator scripts (`--script FILE`): any text through the script parser.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use open_nsynth::sim::script;

fuzz_target!(|data: &[u8]| {
    // Scripts are read as UTF-8 text, so nothing else reaches the parser.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = script::parse(text, Path::new("session.txt"));
    }
});
