//! Pipeline settings of `host-tools pipeline`: any text through the validator, and the pad
//! layout's size and row count that the pipeline works out from what it accepts.
#![no_main]

use std::path::Path;

use host_tools::pipeline::PipelineConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Pipeline settings are read as UTF-8 text, so nothing else reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = PipelineConfig::from_json(text, Path::new("pipeline.json")) {
        std::hint::black_box((config.layout.file_bytes(), config.layout.rows()));
    }
});
