//! NumPy `.npy` embedding files: any bytes through the embedding reader.
#![no_main]

use std::path::Path;

use host_tools::npy::read_embedding_from;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_embedding_from(data, Path::new("embedding.npy"));
});
