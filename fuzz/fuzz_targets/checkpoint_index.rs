//! TensorFlow checkpoint `.index` files: any bytes through the table reader and the bundle header
//! and entry checks.
#![no_main]

use std::path::Path;

use host_tools::checkpoint::CheckpointIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = CheckpointIndex::parse(Path::new("model.ckpt.index"), data) {
        for entry in index.entries() {
            std::hint::black_box(entry.parameters());
        }
    }
});
