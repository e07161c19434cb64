//! The map MIDI learn makes, kept in its own file beside the patch file so that learning never
//! rewrites `settings.json`. Reading is bounded and never writes (a corrupt file stays as it is
//! until the next save); saving rewrites the whole map atomically (see [`crate::atomic`]).

use std::path::{Path, PathBuf};

use super::controls::{CcMap, CcMapError};
use crate::settings::Settings;

/// The learned map's file name, in the patch file's folder.
pub const LEARNED_FILE: &str = "midi-map.json";

#[derive(Debug, thiserror::Error)]
pub enum LearnedMapError {
    #[error("cannot read learned MIDI map {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{path}: not valid JSON ({cause}); the file is left as it is until the next MIDI learn"
    )]
    Syntax {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: {cause}; the file is left as it is until the next MIDI learn")]
    Invalid { path: PathBuf, cause: CcMapError },
    #[error("cannot save the learned MIDI map to {path}: {cause}")]
    Save {
        path: PathBuf,
        cause: crate::atomic::AtomicWriteError,
    },
}

/// Where MIDI learn keeps its map: [`LEARNED_FILE`] in `patch_file`'s folder.
pub fn learned_path(patch_file: &Path) -> PathBuf {
    match patch_file.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder.join(LEARNED_FILE),
        _ => Path::new(".").join(LEARNED_FILE),
    }
}

/// Reads the learned map; `Ok(None)` when the file does not exist.
pub fn read_learned(path: &Path) -> Result<Option<CcMap>, LearnedMapError> {
    let bytes = match crate::limits::read_file(
        path,
        crate::limits::LEARNED_MAP_BYTES,
        "learned MIDI map",
    ) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => {
            return Err(LearnedMapError::Read {
                path: path.to_path_buf(),
                cause,
            })
        }
    };
    learned_from_bytes(path, &bytes).map(Some)
}

/// Reads `bytes`, the contents of the learned map `path`, as [`read_learned`] does.
pub fn learned_from_bytes(path: &Path, bytes: &[u8]) -> Result<CcMap, LearnedMapError> {
    let json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|cause| LearnedMapError::Syntax {
            path: path.to_path_buf(),
            cause,
        })?;
    CcMap::from_json(&json).map_err(|cause| LearnedMapError::Invalid {
        path: path.to_path_buf(),
        cause,
    })
}

/// The map in force for `settings`: the learned map beside the patch file if there is one, else
/// the settings' `midi.cc`. A learned map that cannot be read is returned for the log, and the
/// settings' map is used.
pub fn cc_map_in_force(settings: &Settings) -> (CcMap, Option<LearnedMapError>) {
    match read_learned(&learned_path(&settings.patch_file)) {
        Ok(Some(learned)) => (learned, None),
        Ok(None) => (settings.midi.cc.clone(), None),
        Err(problem) => (settings.midi.cc.clone(), Some(problem)),
    }
}

/// Writes the whole map, every control named, atomically: the old file stays intact until the
/// new one is complete on disk.
pub fn save_learned(path: &Path, map: &CcMap) -> Result<(), LearnedMapError> {
    let mut text = serde_json::to_string_pretty(&map.to_json())
        .expect("a JSON value of numbers and nulls always serialises");
    text.push('\n');
    crate::atomic::write_bytes(path, text.as_bytes(), Default::default()).map_err(|cause| {
        LearnedMapError::Save {
            path: path.to_path_buf(),
            cause,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::Control;

    #[test]
    fn the_map_lives_beside_the_patch_file() {
        assert_eq!(
            learned_path(Path::new("/sd/patches.json")),
            Path::new("/sd/midi-map.json")
        );
        assert_eq!(
            learned_path(Path::new("patches.json")),
            Path::new("./midi-map.json")
        );
    }

    #[test]
    fn a_missing_file_is_no_map() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(LEARNED_FILE);
        assert!(read_learned(&path).unwrap().is_none());
        assert!(!path.exists(), "reading creates nothing");
    }

    #[test]
    fn a_saved_map_reads_back_the_same() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(LEARNED_FILE);
        let mut map = CcMap::general_midi();
        map.learn(Control::GridX, 1).unwrap();
        map.learn(Control::Volume, 18).unwrap();
        save_learned(&path, &map).unwrap();
        assert_eq!(read_learned(&path).unwrap(), Some(map.clone()));
        map.learn(Control::Attack, 20).unwrap();
        save_learned(&path, &map).unwrap();
        assert_eq!(read_learned(&path).unwrap(), Some(map));
    }

    #[test]
    fn a_corrupt_file_is_reported_and_left_as_it_is() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(LEARNED_FILE);
        for (text, expected) in [
            ("{\"volume\": ", "not valid JSON"),
            ("{\"volume\": 64}", "`volume`: CC 64 is the sustain pedal"),
        ] {
            std::fs::write(&path, text).unwrap();
            let message = read_learned(&path).unwrap_err().to_string();
            assert!(
                message.contains(&path.display().to_string()) && message.contains(expected),
                "{message}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn a_file_larger_than_any_map_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(LEARNED_FILE);
        let padding = " ".repeat(crate::limits::LEARNED_MAP_BYTES as usize);
        std::fs::write(&path, format!("{{}}{padding}")).unwrap();
        let message = read_learned(&path).unwrap_err().to_string();
        assert!(
            message.contains("more than any learned MIDI map"),
            "{message}"
        );
    }
}
