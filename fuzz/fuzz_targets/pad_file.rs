//! Pad files: a layout that a settings file could give, and a file checked against it and read
//! point by point as the loader does.
//!
//! Input: resolution (u32 LE), length (u32 LE), a pitch count byte and that many pitch bytes (the
//! `nsynth` settings), then the pad file's bytes.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use open_nsynth::pad::{PadFile, PadSource};
use open_nsynth::settings::Settings;

/// One folder for the whole run: a fresh one per input would cost more than the parsing.
fn pad_path() -> &'static Path {
    static FOLDER: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = FOLDER.get_or_init(|| {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let path = folder.path().join("a_b_c_d.bin");
        (folder, path)
    });
    path
}

fuzz_target!(|data: &[u8]| {
    let Some((resolution, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let Some((length, rest)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let Some((&count, rest)) = rest.split_first() else {
        return;
    };
    let Some((pitches, pad)) = rest.split_at_checked(usize::from(count)) else {
        return;
    };
    // The layout goes through the settings validation, so that only layouts a settings file can
    // give are tried.
    let text = format!(
        r#"{{"nsynth": {{"resolution": {}, "length": {}, "pitches": {pitches:?}}},
            "corners": [{{"instruments": [{{"name": "a"}}]}}, {{"instruments": [{{"name": "b"}}]}},
                        {{"instruments": [{{"name": "c"}}]}}, {{"instruments": [{{"name": "d"}}]}}]}}"#,
        u32::from_le_bytes(*resolution),
        u32::from_le_bytes(*length),
    );
    let Ok(settings) = Settings::from_json(&text, Path::new("settings.json")) else {
        return;
    };
    let layout = settings.pad.layout;
    std::fs::write(pad_path(), pad).expect("a writable temporary folder");
    let Ok(file) = PadFile::open(pad_path(), &layout) else {
        return;
    };
    let mut rows = vec![0; layout.point_samples()];
    for point in 0..layout.points() {
        file.read_point(point, &mut rows)
            .expect("an opened pad reads every point");
    }
});
