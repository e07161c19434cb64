//! Patch files (`patches.json`): any bytes through the forgiving reader, which keeps what it can
//! and reports the rest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use open_nsynth::patch::PatchStore;

fuzz_target!(|data: &[u8]| {
    let _ = PatchStore::from_bytes("patches.json", data);
});
