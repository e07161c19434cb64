//! The patch store: four slots of knob values, corner instruments and grid position, kept in the
//! original's `patches.json` format so that files move freely between the original and this
//! program. Reading is forgiving (bad fields keep their defaults and are reported); saving is
//! atomic (see [`crate::atomic`]) and every failure is returned. A slot never saved is empty: it
//! is `null` in the file, and the original's empty entries (instrument names `""`) read as empty.
//! It never writes on its own: a corrupt file stays as it is on disk until the next save, and
//! it must never be used from the audio thread.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// Patch slots, shown as 1–4.
pub const SLOTS: usize = 4;

/// One slot's contents. Knob values are normalised 0–1; volume is not part of a patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub position: f32,
    pub attack: f32,
    pub decay: f32,
    pub sustain: f32,
    pub release: f32,
    /// Corner instrument names in settings order (top-left, top-right, bottom-left, bottom-right).
    pub instruments: [String; 4],
    /// Grid position as fractions 0–1 across the pad.
    pub grid: [f32; 2],
}

impl Default for Patch {
    /// The values a patch entry's missing keys take, as the original starts a slot.
    fn default() -> Self {
        Self {
            position: 0.0,
            attack: 1.0,
            decay: 1.0,
            sustain: 1.0,
            release: 1.0,
            instruments: Default::default(),
            grid: [0.5, 0.5],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("{path} does not exist yet; every patch slot starts empty")]
    Missing { path: PathBuf },
    #[error("cannot read patch file {path}: {cause}; every patch slot starts empty")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not valid JSON ({cause}); every patch slot starts empty, and the file is left as it is until the next save")]
    Syntax {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: expected an object with a `patches` array at the top level; every patch slot starts empty, and the file is left as it is until the next save")]
    NotAnObject { path: PathBuf },
    #[error("{path}: `{key}` should be {expected}; it keeps its default")]
    Field {
        path: PathBuf,
        key: String,
        expected: &'static str,
    },
    #[error("{path}: `patches` has {found} entries; only the first {SLOTS} are read, and the rest are dropped at the next save")]
    TooMany { path: PathBuf, found: usize },
    #[error("cannot save patches to {path}: {cause}")]
    Save {
        path: PathBuf,
        cause: crate::atomic::AtomicWriteError,
    },
}

/// The four slots and the file they live in; `None` is an empty slot.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchStore {
    pub path: PathBuf,
    pub slots: [Option<Patch>; SLOTS],
}

impl PatchStore {
    /// Empty slots that will be saved to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            slots: Default::default(),
        }
    }

    /// Reads `path` the original's way: whatever can be read is kept, everything else keeps its
    /// default, and each problem is returned for the log. Never fails and never writes.
    pub fn open(path: impl Into<PathBuf>) -> (Self, Vec<PatchError>) {
        let path = path.into();
        match crate::limits::read_file(&path, crate::limits::PATCH_FILE_BYTES, "patch file") {
            Ok(bytes) => Self::from_bytes(path, &bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let problem = PatchError::Missing { path: path.clone() };
                (Self::new(path), vec![problem])
            }
            Err(cause) => {
                let problem = PatchError::Read {
                    path: path.clone(),
                    cause,
                };
                (Self::new(path), vec![problem])
            }
        }
    }

    /// Reads `bytes`, the contents of the patch file `path`, as [`Self::open`] does.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: &[u8]) -> (Self, Vec<PatchError>) {
        let mut store = Self::new(path);
        let mut problems = Vec::new();
        match serde_json::from_slice::<Value>(bytes) {
            Err(cause) => problems.push(PatchError::Syntax {
                path: store.path.clone(),
                cause,
            }),
            Ok(json) => store.read(&json, &mut problems),
        }
        (store, problems)
    }

    fn read(&mut self, json: &Value, problems: &mut Vec<PatchError>) {
        let Some(root) = json.as_object() else {
            problems.push(PatchError::NotAnObject {
                path: self.path.clone(),
            });
            return;
        };
        // No `patches` key reads nothing and counts as success, as in the original.
        let Some(entries) = root.get("patches") else {
            return;
        };
        let mut reader = FieldReader {
            path: &self.path,
            problems,
        };
        let Some(entries) = entries.as_array() else {
            reader.wrong("patches", "an array of patch objects");
            return;
        };
        if entries.len() > SLOTS {
            reader.problems.push(PatchError::TooMany {
                path: self.path.clone(),
                found: entries.len(),
            });
        }
        for (i, (slot, entry)) in self.slots.iter_mut().zip(entries).enumerate() {
            *slot = reader.patch(&format!("patches[{i}]"), entry);
        }
    }

    /// Rewrites the whole file with all four slots, atomically: the old file stays intact until
    /// the new one is complete on disk. Every failure is returned with the file's path.
    pub fn save(&self) -> Result<(), PatchError> {
        crate::atomic::write_bytes(&self.path, self.json().as_bytes(), Default::default()).map_err(
            |cause| PatchError::Save {
                path: self.path.clone(),
                cause,
            },
        )
    }

    /// The file's text: minified, keys in alphabetical order, floats widened to doubles as the
    /// original writes them (0.7 becomes 0.699999988079071), empty slots as `null`.
    pub fn json(&self) -> String {
        let file = FileShape {
            patches: self
                .slots
                .iter()
                .map(|slot| slot.as_ref().map(EntryShape::from))
                .collect(),
        };
        serde_json::to_string(&file).expect("plain numbers and strings always serialise")
    }
}

/// Reads the fields of patch entries, reporting each one that keeps its default.
struct FieldReader<'a> {
    path: &'a Path,
    problems: &'a mut Vec<PatchError>,
}

impl FieldReader<'_> {
    fn wrong(&mut self, key: &str, expected: &'static str) {
        self.problems.push(PatchError::Field {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            expected,
        });
    }

    /// The patch of one entry; `None` for an empty slot: `null`, or no usable instrument names
    /// (the original saves its empty slots with names `""`).
    fn patch(&mut self, key: &str, entry: &Value) -> Option<Patch> {
        if entry.is_null() {
            return None;
        }
        let Some(entry) = entry.as_object() else {
            self.wrong(key, "a patch object or null");
            return None;
        };
        let mut patch = Patch::default();
        for (name, value) in [
            ("position", &mut patch.position),
            ("attack", &mut patch.attack),
            ("decay", &mut patch.decay),
            ("sustain", &mut patch.sustain),
            ("release", &mut patch.release),
        ] {
            // A missing key keeps its default silently: the original never wrote files without them.
            let Some(field) = entry.get(name) else {
                continue;
            };
            match fraction(field) {
                Some(fraction) => *value = fraction,
                None => self.wrong(&format!("{key}.{name}"), "a number 0–1"),
            }
        }
        if let Some(field) = entry.get("instruments") {
            let names: Option<Vec<String>> = field.as_array().and_then(|list| {
                list.iter()
                    .map(|name| name.as_str().map(str::to_string))
                    .collect()
            });
            match names.and_then(|names| <[String; 4]>::try_from(names).ok()) {
                Some(names) => patch.instruments = names,
                None => self.wrong(
                    &format!("{key}.instruments"),
                    "an array of 4 instrument names",
                ),
            }
        }
        if let Some(field) = entry.get("grid") {
            let grid: Option<Vec<f32>> = field
                .as_array()
                .and_then(|list| list.iter().map(fraction).collect());
            match grid.and_then(|grid| <[f32; 2]>::try_from(grid).ok()) {
                Some(grid) => patch.grid = grid,
                None => self.wrong(&format!("{key}.grid"), "an array of 2 numbers 0–1"),
            }
        }
        let named = patch.instruments.iter().all(|name| !name.is_empty());
        named.then_some(patch)
    }
}

/// A JSON number clamped to 0–1, as the original reads every patch value.
fn fraction(value: &Value) -> Option<f32> {
    value.as_f64().map(|v| v.clamp(0.0, 1.0) as f32)
}

/// The file as serde writes it; field order is the original's alphabetical key order.
#[derive(Serialize)]
struct FileShape<'a> {
    patches: Vec<Option<EntryShape<'a>>>,
}

#[derive(Serialize)]
struct EntryShape<'a> {
    attack: f64,
    decay: f64,
    grid: [f64; 2],
    instruments: &'a [String; 4],
    position: f64,
    release: f64,
    sustain: f64,
}

impl<'a> From<&'a Patch> for EntryShape<'a> {
    fn from(patch: &'a Patch) -> Self {
        Self {
            attack: patch.attack.into(),
            decay: patch.decay.into(),
            grid: patch.grid.map(f64::from),
            instruments: &patch.instruments,
            position: patch.position.into(),
            release: patch.release.into(),
            sustain: patch.sustain.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Patch {
        Patch {
            position: 0.25,
            attack: 0.7,
            decay: 0.0,
            sustain: 1.0,
            release: 0.5,
            instruments: ["flute", "brass", "reed", "bell"].map(String::from),
            grid: [0.3, 1.0],
        }
    }

    fn store_in(dir: &Path) -> PatchStore {
        let mut store = PatchStore::new(dir.join("patches.json"));
        store.slots[2] = Some(example());
        store
    }

    fn open_text(text: &str) -> (PatchStore, Vec<PatchError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("patches.json");
        std::fs::write(&path, text).unwrap();
        PatchStore::open(path)
    }

    fn messages(problems: &[PatchError]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_saved_store_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store.save().unwrap();
        let (read, problems) = PatchStore::open(&store.path);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(read, store);
    }

    #[test]
    fn the_file_is_minified_alphabetical_with_widened_floats() {
        let mut store = PatchStore::new("patches.json");
        store.slots[1] = Some(example());
        let expected = r#"{"patches":[null,{"attack":0.699999988079071,"decay":0.0,"grid":[0.30000001192092896,1.0],"instruments":["flute","brass","reed","bell"],"position":0.25,"release":0.5,"sustain":1.0},null,null]}"#;
        assert_eq!(store.json(), expected);
    }

    #[test]
    fn empty_slots_are_null_and_the_originals_empty_entries_read_as_empty() {
        let original_empty = r#"{"attack":1.0,"decay":1.0,"grid":[0.5,0.5],"instruments":["","","",""],"position":0.0,"release":1.0,"sustain":1.0}"#;
        let (store, problems) = open_text(&format!(
            r#"{{"patches":[{original_empty},null,{{"instruments":["a","b","c","d"]}}]}}"#
        ));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(store.slots[0], None);
        assert_eq!(store.slots[1], None);
        assert!(store.slots[2].is_some());
        assert_eq!(store.slots[3], None);
        assert!(!store.json().contains(r#""""#), "{}", store.json());
        assert_eq!(PatchStore::new("x").slots, [None, None, None, None]);
    }

    #[test]
    fn a_missing_file_is_a_warning_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("patches.json");
        let (store, problems) = PatchStore::open(&path);
        assert_eq!(store, PatchStore::new(&path));
        assert!(matches!(problems.as_slice(), [PatchError::Missing { .. }]));
        assert!(problems[0].to_string().contains("patches.json"));
    }

    #[test]
    fn numbers_are_clamped_to_0_1() {
        let (store, problems) = open_text(
            r#"{"patches":[{"position":-3,"attack":7.5,"decay":0.25,"grid":[2,-1],"instruments":["a","b","c","d"]}]}"#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let slot = store.slots[0].as_ref().unwrap();
        assert_eq!((slot.position, slot.attack, slot.decay), (0.0, 1.0, 0.25));
        assert_eq!(slot.grid, [1.0, 0.0]);
    }

    #[test]
    fn wrong_types_keep_defaults_and_are_named() {
        let (store, problems) = open_text(
            r#"{"patches":[{"position":"half","attack":0.5,"instruments":["a","b","c","d"],"grid":[0.1,"x"]},
                            {"instruments":["a","b",3,"d"],"sustain":null}, 7]}"#,
        );
        let slot = store.slots[0].as_ref().unwrap();
        assert_eq!(slot.position, 0.0);
        assert_eq!(slot.attack, 0.5);
        assert_eq!(slot.grid, [0.5, 0.5]);
        // Without its instruments a slot cannot be loaded: it is empty.
        assert_eq!(store.slots[1], None);
        assert_eq!(store.slots[2], None);
        let messages = messages(&problems);
        let keys = [
            "`patches[0].position` should be a number",
            "`patches[0].grid` should be an array of 2",
            "`patches[1].sustain` should be a number",
            "`patches[1].instruments` should be an array of 4",
            "`patches[2]` should be a patch object or null",
        ];
        assert_eq!(messages.len(), keys.len(), "{messages:?}");
        for key in keys {
            assert!(
                messages.iter().any(|m| m.contains(key)),
                "{key} not in {messages:?}"
            );
        }
        assert!(messages.iter().all(|m| m.contains("patches.json")));
    }

    #[test]
    fn missing_keys_keep_defaults_silently() {
        let (store, problems) = open_text(
            r#"{"patches":[{"release":0.5,"instruments":["a","b","c","d"]},{},{"instruments":["a","b","c","d"]}]}"#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let named = |patch: Patch| Patch {
            instruments: ["a", "b", "c", "d"].map(String::from),
            ..patch
        };
        let release = Patch {
            release: 0.5,
            ..Patch::default()
        };
        assert_eq!(store.slots[0], Some(named(release)));
        assert_eq!(store.slots[1], None);
        assert_eq!(store.slots[2], Some(named(Patch::default())));
    }

    #[test]
    fn no_patches_key_reads_nothing_and_is_fine() {
        let (store, problems) = open_text(r#"{"other": 1}"#);
        assert!(problems.is_empty());
        assert_eq!(store.slots, PatchStore::new("x").slots);
    }

    #[test]
    fn extra_entries_are_reported() {
        let (store, problems) = open_text(
            r#"{"patches":[null,null,null,{"decay":0.4,"instruments":["a","b","c","d"]},{"decay":0.5}]}"#,
        );
        assert_eq!(store.slots[3].as_ref().unwrap().decay, 0.4);
        assert!(matches!(
            problems.as_slice(),
            [PatchError::TooMany { found: 5, .. }]
        ));
    }

    #[test]
    fn a_corrupt_file_is_reported_and_left_untouched() {
        for (text, shape) in [
            ("{\"patches\": [", "not valid JSON"),
            ("[1, 2]", "expected an object"),
            (
                r#"{"patches": {"attack": 1}}"#,
                "`patches` should be an array",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("patches.json");
            std::fs::write(&path, text).unwrap();
            let (store, problems) = PatchStore::open(&path);
            assert_eq!(store.slots, PatchStore::new(&path).slots);
            let messages = messages(&problems);
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(messages[0].contains(shape), "{messages:?}");
            assert!(messages[0].contains(&path.display().to_string()));
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn saving_into_a_missing_folder_fails_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir.path().join("absent"));
        let message = store
            .save()
            .expect_err("the folder does not exist")
            .to_string();
        assert!(
            message.contains(&store.path.display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn saving_into_a_read_only_folder_fails_naming_the_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
        // Root ignores folder permissions; then there is nothing to prove here.
        let probe = dir.path().join("probe");
        let writable = std::fs::File::create(&probe).is_ok();
        let result = store.save();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if writable {
            return;
        }
        let message = result.expect_err("the folder is read-only").to_string();
        assert!(
            message.contains(&store.path.display().to_string()),
            "{message}"
        );
        assert!(!store.path.exists());
    }

    #[test]
    fn a_save_goes_through_a_temp_file_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        std::fs::write(&store.path, "old").unwrap();
        store.save().unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["patches.json"]);
        assert_eq!(std::fs::read_to_string(&store.path).unwrap(), store.json());
    }
}
