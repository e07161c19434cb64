//! The original pipeline's `settings.json` (spec §7.0): which instruments sit in which corner, the
//! sampled pitches, the grid resolution and the row length. Parsed and validated here into a
//! [`PipelineConfig`] every later step trusts; each error names the file and the key. It never
//! reads recordings or writes anything.
//!
//! Corners: the original places its four lists at grid (0,0), (1,0), (0,1), (1,1) in the order
//! `NW`, `NE`, `SE`, `SW`, and the device's y axis grows downward, so on the instrument:
//!
//! | settings key | grid point | screen corner | device `corners[i]` |
//! |---|---|---|---|
//! | `NW` | (0, 0) | top-left | 0 |
//! | `NE` | (1, 0) | top-right | 1 |
//! | `SE` | (0, 1) | **bottom-left** | 2 |
//! | `SW` | (1, 1) | **bottom-right** | 3 |
//!
//! The compass labels of the two bottom corners are swapped relative to the screen; that is kept
//! so existing settings files give the same pads (and pad names `NW_NE_SE_SW.bin`) as before.

use crate::audio::NOTE_SAMPLES;
use crate::embedding::HOP_LENGTH;
use std::path::{Path, PathBuf};

use open_nsynth::pad::{validate_pitches, PadLayout, PitchError};
use open_nsynth::settings::Instrument;
use serde_json::{Map, Value};

/// Settings keys of the corner lists, in device corner order.
pub const CORNER_KEYS: [&str; 4] = ["NW", "NE", "SE", "SW"];

/// Where each corner list ends up on the screen, in device corner order.
pub const SCREEN_CORNERS: [&str; 4] = ["top-left", "top-right", "bottom-left", "bottom-right"];

/// Keys of the original settings file that this pipeline reads.
const KNOWN_KEYS: [&str; 7] = [
    "pads",
    "pitches",
    "resolution",
    "final_length",
    "note_length",
    "gpus",
    "magenta_dir",
];

/// Row length below which the 8-sample fade-in and fade-out would overlap.
const MIN_FINAL_LENGTH: u64 = 16;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read pipeline settings {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not valid JSON: {cause}")]
    Syntax {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// Validated pipeline settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The file these settings came from.
    pub file: PathBuf,
    /// Instrument lists in device corner order (top-left, top-right, bottom-left, bottom-right),
    /// that is the settings lists `NW`, `NE`, `SE`, `SW`. Names are distinct across all corners,
    /// contain no `_`, and none is `pitch`.
    pub corners: [Vec<Instrument>; 4],
    /// The pad layout: `resolution`, `pitches` (strictly ascending) and `final_length`.
    pub layout: PadLayout,
    /// Samples of every recording encoded and every sound generated (`note_length`, an addition
    /// to the original's keys): a whole number of 512-sample frames, the original's 4 s (64000)
    /// unless set; shorter notes make quick trial runs.
    pub note_length: usize,
    /// Number of shards the sounds are dealt into (`gpus`): sound `k` goes to shard `k mod n`.
    pub shards: usize,
    /// Remarks for the log: ignored and unknown keys.
    pub notes: Vec<String>,
}

impl PipelineConfig {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Self::from_json(&text, path)
    }

    /// Validates settings text; `path` names the file in messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let json: Value = serde_json::from_str(text).map_err(|cause| ConfigError::Syntax {
            path: path.to_path_buf(),
            cause,
        })?;
        Validator { path }.config(&json)
    }

    /// Every instrument of every corner, in corner order.
    pub fn instruments(&self) -> impl Iterator<Item = &Instrument> {
        self.corners.iter().flatten()
    }
}

struct Validator<'a> {
    path: &'a Path,
}

impl Validator<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn config(&self, json: &Value) -> Result<PipelineConfig, ConfigError> {
        let root = json
            .as_object()
            .ok_or_else(|| self.invalid("(top level)", "must be a JSON object"))?;
        let mut notes = Vec::new();
        for key in root.keys() {
            if key == "magenta_dir" {
                notes.push(format!(
                    "{}: `magenta_dir` is ignored: the model is built in, its checkpoint is given \
                     on the command line",
                    self.path.display()
                ));
            } else if !KNOWN_KEYS.contains(&key.as_str()) {
                notes.push(format!(
                    "{}: unknown key `{key}` ignored",
                    self.path.display()
                ));
            }
        }
        let corners = self.corners(required(root, "pads", self)?)?;
        let pitches = self.pitches(required(root, "pitches", self)?)?;
        let resolution = self.count(root, "resolution", 2, None)?;
        let final_length = self.count(root, "final_length", MIN_FINAL_LENGTH, None)?;
        let shards = self.count(root, "gpus", 1, Some(1))?;
        let note_length = self.count(root, "note_length", HOP_LENGTH as u64, Some(NOTE_SAMPLES))?;
        if note_length % HOP_LENGTH != 0 {
            return Err(self.invalid(
                "note_length",
                format!("{note_length} is not a whole number of {HOP_LENGTH}-sample frames"),
            ));
        }
        if final_length > note_length {
            return Err(self.invalid(
                "final_length",
                format!("{final_length} is longer than the notes ({note_length} samples)"),
            ));
        }
        let layout = PadLayout {
            resolution,
            pitches,
            length: final_length,
        };
        // The device refuses larger pads, and the grid's row count would overflow.
        layout
            .check_size()
            .map_err(|error| self.invalid("resolution", error.to_string()))?;
        Ok(PipelineConfig {
            file: self.path.to_path_buf(),
            note_length,
            corners,
            layout,
            shards,
            notes,
        })
    }

    /// A whole number of at least `min`; `default` when the key is missing (else required).
    fn count(
        &self,
        root: &Map<String, Value>,
        key: &str,
        min: u64,
        default: Option<usize>,
    ) -> Result<usize, ConfigError> {
        let value = match (root.get(key), default) {
            (None | Some(Value::Null), Some(default)) => return Ok(default),
            (None | Some(Value::Null), None) => return Err(self.invalid(key, "is required")),
            (Some(value), _) => value,
        };
        value
            .as_u64()
            .filter(|n| *n >= min)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                self.invalid(
                    key,
                    format!("{value} is not a whole number of at least {min}"),
                )
            })
    }

    fn pitches(&self, value: &Value) -> Result<Vec<u8>, ConfigError> {
        let list = value
            .as_array()
            .filter(|list| !list.is_empty())
            .ok_or_else(|| self.invalid("pitches", "must be a non-empty list of MIDI notes"))?;
        // Parse, then validate: an entry that is not a whole number is no note at all.
        list.iter()
            .enumerate()
            .map(|(index, entry)| {
                entry.as_i64().ok_or_else(|| PitchError::NotANote {
                    index,
                    value: entry.to_string(),
                })
            })
            .collect::<Result<Vec<i64>, PitchError>>()
            .and_then(validate_pitches)
            .map_err(|error| self.invalid(error.key("pitches"), error.to_string()))
    }

    fn corners(&self, value: &Value) -> Result<[Vec<Instrument>; 4], ConfigError> {
        let pads = value.as_object().ok_or_else(|| {
            self.invalid("pads", "must be an object with the lists NW, NE, SW and SE")
        })?;
        if let Some(extra) = pads.keys().find(|key| !CORNER_KEYS.contains(&key.as_str())) {
            return Err(self.invalid(
                format!("pads.{extra}"),
                "is not a corner; the corners are NW, NE, SW and SE",
            ));
        }
        let mut corners: [Vec<Instrument>; 4] = Default::default();
        let mut seen: Vec<(String, String)> = Vec::new();
        for (corner, key) in corners.iter_mut().zip(CORNER_KEYS) {
            let list = pads
                .get(key)
                .and_then(Value::as_array)
                .filter(|list| !list.is_empty())
                .ok_or_else(|| {
                    self.invalid(
                        format!("pads.{key}"),
                        "must be a non-empty list of instruments",
                    )
                })?;
            for (i, entry) in list.iter().enumerate() {
                let entry_key = format!("pads.{key}[{i}]");
                let instrument = self.instrument(&entry_key, entry)?;
                if let Some((other, _)) = seen.iter().find(|(_, name)| *name == instrument.name) {
                    return Err(self.invalid(
                        entry_key,
                        format!(
                            "`{}` is also {other}; every instrument must be distinct across corners \
                             (a pad name and the interpolation weights are keyed by name)",
                            instrument.name
                        ),
                    ));
                }
                seen.push((entry_key, instrument.name.clone()));
                corner.push(instrument);
            }
        }
        Ok(corners)
    }

    /// A name, or an object with `name` and optional `display` and `abbr` for the device screen.
    fn instrument(&self, key: &str, entry: &Value) -> Result<Instrument, ConfigError> {
        let (name, display, abbr) = match entry {
            Value::String(name) => (name.clone(), None, None),
            Value::Object(fields) => {
                let text = |field: &str| -> Result<Option<String>, ConfigError> {
                    match fields.get(field) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(text)) => Ok(Some(text.clone())),
                        Some(other) => Err(self
                            .invalid(format!("{key}.{field}"), format!("{other} is not a string"))),
                    }
                };
                let name = text("name")?
                    .ok_or_else(|| self.invalid(format!("{key}.name"), "is required"))?;
                (name, text("display")?, text("abbr")?)
            }
            other => {
                return Err(self.invalid(
                    key,
                    format!("{other} is neither an instrument name nor {{\"name\": …}}"),
                ))
            }
        };
        self.check_name(key, &name)?;
        Ok(Instrument {
            display: display.unwrap_or_else(|| name.clone()),
            abbr: abbr.unwrap_or_else(|| Instrument::default_abbr(&name)),
            name,
        })
    }

    /// Names become parts of file names that are split on `_` and keyed beside `pitch`.
    fn check_name(&self, key: &str, name: &str) -> Result<(), ConfigError> {
        let problem = if name.is_empty() {
            Some("an instrument name must not be empty")
        } else if name.contains('_') {
            Some("must not contain `_`: file names are split on it")
        } else if name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
            Some("must be usable as part of a file name (no `/`, `\\`)")
        } else if name == "pitch" {
            Some("`pitch` is reserved: sound names use it as the pitch key")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(self.invalid(key, format!("`{name}`: {problem}"))),
            None => Ok(()),
        }
    }
}

fn required<'v>(
    root: &'v Map<String, Value>,
    key: &str,
    validator: &Validator<'_>,
) -> Result<&'v Value, ConfigError> {
    root.get(key)
        .filter(|value| !value.is_null())
        .ok_or_else(|| validator.invalid(key, "is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"{
        "pads": {
            "NW": ["brass", "caridle", "crotales", "electroclav"],
            "NE": ["fatpoly", "flute", "softpad", "kick"],
            "SW": ["marimba", "electricpiano", "snare", "steeldrum"],
            "SE": ["synthbrass", "cleanbass", "uprightbass", "windfx"]
        },
        "magenta_dir": "~/magenta",
        "pitches": [24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80, 84],
        "resolution": 9,
        "final_length": 60000,
        "gpus": 16
    }"#;

    fn parse(text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::from_json(text, Path::new("audio/settings.json"))
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    fn with(key: &str, value: &str) -> String {
        let mut json: Value = serde_json::from_str(ORIGINAL).unwrap();
        json[key] = serde_json::from_str(value).unwrap();
        json.to_string()
    }

    #[test]
    fn the_original_settings_file_is_read_with_se_at_bottom_left() {
        let config = parse(ORIGINAL).unwrap();
        let first: Vec<&str> = config.corners.iter().map(|c| c[0].name.as_str()).collect();
        assert_eq!(first, ["brass", "fatpoly", "synthbrass", "marimba"]);
        assert_eq!(config.layout.resolution, 9);
        assert_eq!(config.layout.pitches.len(), 16);
        assert_eq!(config.layout.length, 60000);
        assert_eq!(config.shards, 16);
        assert_eq!(config.instruments().count(), 16);
        assert_eq!(config.corners[3][1].display, "electricpiano");
        assert_eq!(config.corners[3][1].abbr, "EL");
        assert_eq!(config.notes.len(), 1);
        assert!(
            config.notes[0].contains("magenta_dir"),
            "{:?}",
            config.notes
        );
    }

    #[test]
    fn instruments_may_carry_screen_names_and_unknown_keys_are_noted() {
        let text = with(
            "pads",
            r#"{"NW": [{"name": "brass", "display": "Brass", "abbr": "BR"}],
                "NE": ["flute"], "SW": ["reed"], "SE": ["organ"]}"#,
        );
        let mut json: Value = serde_json::from_str(&text).unwrap();
        json["colour"] = "red".into();
        let config = parse(&json.to_string()).unwrap();
        assert_eq!(config.corners[0][0].display, "Brass");
        assert_eq!(config.corners[2][0].name, "organ");
        assert!(config
            .notes
            .iter()
            .any(|n| n.contains("unknown key `colour`")));
    }

    #[test]
    fn missing_and_malformed_keys_are_named() {
        let mut json: Value = serde_json::from_str(ORIGINAL).unwrap();
        json.as_object_mut().unwrap().remove("resolution");
        let text = message(&json.to_string());
        assert!(
            text.contains("audio/settings.json: key `resolution`: is required"),
            "{text}"
        );

        let text = message(&with("resolution", "1"));
        assert!(
            text.contains("`resolution`") && text.contains("at least 2"),
            "{text}"
        );
        let text = message(&with("final_length", "\"long\""));
        assert!(text.contains("`final_length`"), "{text}");
        let text = message(&with("pitches", "[24, 130]"));
        assert!(
            text.contains("`pitches[1]`") && text.contains("0–127"),
            "{text}"
        );
        let text = message(&with("pitches", "[24, 36.5]"));
        assert!(
            text.contains("`pitches[1]`: 36.5 is not a MIDI note 0–127"),
            "{text}"
        );
        let text = message(&with("pitches", "[28, 24]"));
        assert!(
            text.contains("`pitches[1]`") && text.contains("ascending"),
            "{text}"
        );
        let text = message(&with("gpus", "0"));
        assert!(text.contains("`gpus`"), "{text}");
        let text = message("[1, 2]");
        assert!(text.contains("JSON object"), "{text}");
        let text = message("{ nope");
        assert!(text.contains("not valid JSON"), "{text}");
    }

    #[test]
    fn pads_larger_than_the_device_maps_are_refused() {
        // A 2^32 grid overflowed the row count.
        let text = message(&with("resolution", "4294967296"));
        assert!(
            text.contains("`resolution`")
                && text.contains("at most 64 points per axis and 256 MiB"),
            "{text}"
        );
        let text = message(&with("resolution", "1000"));
        assert!(
            text.contains("resolution 1000, 16 pitches and length 60000"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_gpus_key_means_one_shard() {
        let mut json: Value = serde_json::from_str(ORIGINAL).unwrap();
        json.as_object_mut().unwrap().remove("gpus");
        assert_eq!(parse(&json.to_string()).unwrap().shards, 1);
    }

    #[test]
    fn corner_lists_and_names_are_checked() {
        let pads = |nw: &str| {
            with(
                "pads",
                &format!(r#"{{"NW": {nw}, "NE": ["flute"], "SW": ["reed"], "SE": ["organ"]}}"#),
            )
        };
        let text = message(&pads("[]"));
        assert!(
            text.contains("`pads.NW`") && text.contains("non-empty"),
            "{text}"
        );
        let text = message(&pads(r#"["bad_name"]"#));
        assert!(
            text.contains("`pads.NW[0]`") && text.contains("`_`"),
            "{text}"
        );
        let text = message(&pads(r#"["pitch"]"#));
        assert!(text.contains("reserved"), "{text}");
        let text = message(&pads(r#"["brass", "flute"]"#));
        assert!(
            text.contains("`pads.NE[0]`: `flute` is also pads.NW[1]"),
            "{text}"
        );
        let text = message(&pads(r#"[{"display": "X"}]"#));
        assert!(text.contains("`pads.NW[0].name`: is required"), "{text}");
        let text = message(&with(
            "pads",
            r#"{"NW": ["a"], "NE": ["b"], "SW": ["c"], "SE": ["d"], "N": ["e"]}"#,
        ));
        assert!(text.contains("`pads.N`"), "{text}");
        let text = message(&with("pads", r#"{"NW": ["a"], "NE": ["b"], "SW": ["c"]}"#));
        assert!(text.contains("`pads.SE`"), "{text}");
    }
}
