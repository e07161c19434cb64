//! Which pads a settings file can ask for: one per combination of corner instruments, each
//! looked for in the data directory and checked for the layout's size. Shared by the device's
//! `--check` and the host tools.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{pad_file_name, PadLayout};
use crate::settings::Settings;

/// What was found at one pad's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadState {
    Present,
    Missing,
    WrongSize { found: u64, expected: u64 },
}

impl fmt::Display for PadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PadState::Present => write!(f, "ok"),
            PadState::Missing => write!(f, "missing"),
            PadState::WrongSize { found, expected } => {
                write!(f, "wrong size: {found} of {expected} bytes")
            }
        }
    }
}

/// One pad the instrument can select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PadEntry {
    pub path: PathBuf,
    pub state: PadState,
}

/// Every combination of one instrument per corner, in the order the encoders reach them (the
/// last corner changing fastest), with what is on disk for each.
pub fn inventory(settings: &Settings) -> Vec<PadEntry> {
    let [a, b, c, d] = &settings.corners;
    let mut entries = Vec::with_capacity(a.len() * b.len() * c.len() * d.len());
    for i0 in a {
        for i1 in b {
            for i2 in c {
                for i3 in d {
                    let name = pad_file_name(&[&i0.name, &i1.name, &i2.name, &i3.name]);
                    let path = settings.pad.data_directory.join(name);
                    let state = pad_state(&path, &settings.pad.layout);
                    entries.push(PadEntry { path, state });
                }
            }
        }
    }
    entries
}

/// What is at `path`, for a pad of `layout`.
pub fn pad_state(path: &Path, layout: &PadLayout) -> PadState {
    match std::fs::metadata(path) {
        Err(_) => PadState::Missing,
        Ok(meta) if meta.len() != layout.file_bytes() => PadState::WrongSize {
            found: meta.len(),
            expected: layout.file_bytes(),
        },
        Ok(_) => PadState::Present,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_corner_combination_is_listed_with_its_state() {
        let dir = tempfile::tempdir().unwrap();
        let files = crate::demo::write_demo(dir.path(), 1024).unwrap();
        let text = std::fs::read_to_string(&files.settings).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Two instruments in the first corner: the demo pad and one that was never made.
        let corner = &mut json["corners"][0]["instruments"];
        let mut other = corner[0].clone();
        other["name"] = "nothing".into();
        corner.as_array_mut().unwrap().push(other);
        std::fs::write(&files.settings, json.to_string()).unwrap();
        let settings = Settings::from_file(&files.settings).unwrap();

        let entries = inventory(&settings);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].path, files.pad);
        assert_eq!(entries[0].state, PadState::Present);
        assert!(entries[1]
            .path
            .ends_with("nothing_demo-brass_demo-reed_demo-bell.bin"));
        assert_eq!(entries[1].state, PadState::Missing);

        let expected = settings.pad.layout.file_bytes();
        std::fs::write(&entries[1].path, [0u8; 10]).unwrap();
        assert_eq!(
            inventory(&settings)[1].state,
            PadState::WrongSize {
                found: 10,
                expected
            }
        );
    }
}
