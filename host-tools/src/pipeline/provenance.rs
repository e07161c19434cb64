//! What made each output of the pad factory, and whether an output can be reused. Every output
//! `X` (an embedding, an interpolated embedding, a generated or cleaned WAV, a pad, the device
//! settings, and a generation's `.checkpoint`) has a record beside it, `X.provenance.json`
//! ([`Provenance`]): the model's identity, whether it was a dry run, and each input the output
//! depends on — seed, note length, the pad layout, and the SHA-256 of every recording (or
//! embedding file) it was made from. A record is written atomically after its output, so it
//! describes the output beside it or an older one, never a newer one; an output whose record
//! is missing, unreadable or different from what the inputs call for now is made again
//! ([`verdict`]), and [`Tally`] counts what was made, redone (and why) and reused. It never
//! makes an output itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use open_nsynth::atomic::write_atomically;
use open_nsynth::limits::read_text;
use serde::{Deserialize, Serialize};

use super::encode::EncodeLength;
use crate::synth::ModelIdentity;

/// Appended to an output's path to name its record.
pub const RECORD_SUFFIX: &str = ".provenance.json";

/// The largest record read: the device settings' lists every recording, 16 pitches of a
/// thousand instruments in 2 MB.
const RECORD_BYTES: u64 = 16 << 20;

/// What made one output: everything it depends on. Two outputs made from equal records are the
/// same (generation is reproducible for a seed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The model that encoded or generated (for later steps, the one behind their inputs).
    pub model: ModelIdentity,
    /// Made by the sine stand-in of `--dry-run`, not NSynth.
    pub dry_run: bool,
    /// The run's `--seed` (generated audio and what is made from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How much of each recording was encoded (the pipeline's `note_length`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_length: Option<EncodeLength>,
    /// Samples per pad row (`final_length`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_length: Option<usize>,
    /// Grid points per axis of a pad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<usize>,
    /// The MIDI pitches of a pad's rows, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitches: Option<Vec<u8>>,
    /// The recordings it was made from: file name → digest (`sha256:…`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recordings: BTreeMap<String, String>,
    /// The embedding files it was generated from (the `generate` command): file name → digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub embeddings: BTreeMap<String, String>,
}

impl Provenance {
    /// A record of `model` and nothing else yet.
    pub fn new(model: ModelIdentity) -> Self {
        Self {
            dry_run: model.is_dry_run(),
            model,
            seed: None,
            note_length: None,
            final_length: None,
            resolution: None,
            pitches: None,
            recordings: BTreeMap::new(),
            embeddings: BTreeMap::new(),
        }
    }

    /// What differs from `earlier`, in words: `seed changed`, `model and recordings changed`.
    pub fn changes_since(&self, earlier: &Provenance) -> String {
        let fields = [
            ("model", self.model != earlier.model),
            ("dry run", self.dry_run != earlier.dry_run),
            ("seed", self.seed != earlier.seed),
            ("note_length", self.note_length != earlier.note_length),
            ("final_length", self.final_length != earlier.final_length),
            ("resolution", self.resolution != earlier.resolution),
            ("pitches", self.pitches != earlier.pitches),
            ("recordings", self.recordings != earlier.recordings),
            ("embedding", self.embeddings != earlier.embeddings),
        ];
        let changed: Vec<&str> = fields
            .iter()
            .filter(|(_, differs)| *differs)
            .map(|(name, _)| *name)
            .collect();
        match changed.split_last() {
            None => "nothing changed".into(),
            Some((last, [])) => format!("{last} changed"),
            Some((last, rest)) => format!("{} and {last} changed", rest.join(", ")),
        }
    }
}

/// Where the record of `output` is.
pub fn record_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(RECORD_SUFFIX);
    PathBuf::from(name)
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the record of what made {output} ({path}): {cause}")]
pub struct RecordError {
    output: PathBuf,
    path: PathBuf,
    cause: std::io::Error,
}

/// Writes the record of `output`, which must be complete already.
pub fn write_record(output: &Path, record: &Provenance) -> Result<(), RecordError> {
    let path = record_path(output);
    let mut text = serde_json::to_string_pretty(record).expect("a record always serialises");
    text.push('\n');
    write_atomically(&path, |w| std::io::Write::write_all(w, text.as_bytes())).map_err(|cause| {
        RecordError {
            output: output.to_path_buf(),
            path,
            cause,
        }
    })
}

/// Removes `output` and its record, if there; a failure is only a warning, since a leftover
/// output without its record is made again anyway.
pub fn remove_with_record(output: &Path) {
    for path in [output.to_path_buf(), record_path(output)] {
        if let Err(error) = std::fs::remove_file(&path) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {error}", path.display());
            }
        }
    }
}

/// What to do about an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It is not there: make it.
    Make,
    /// It is there and was made from these very inputs.
    Reuse,
    /// It is there but must be made again, for this reason.
    Redo(String),
}

impl Verdict {
    /// Whether the output must be made (new or again).
    pub fn is_work(&self) -> bool {
        *self != Verdict::Reuse
    }
}

/// Whether `output` can be reused for inputs that call for `expected`: only if its record says
/// exactly that, and never when `force` is set.
pub fn verdict(output: &Path, expected: &Provenance, force: bool) -> Verdict {
    if !output.exists() {
        return Verdict::Make;
    }
    if force {
        return Verdict::Redo("--force".into());
    }
    let path = record_path(output);
    let text = match read_text(&path, RECORD_BYTES, "provenance record") {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Verdict::Redo("no record of what made it".into())
        }
        Err(error) => {
            tracing::debug!("cannot read {}: {error}", path.display());
            return Verdict::Redo("its record is unreadable".into());
        }
    };
    match serde_json::from_str::<Provenance>(&text) {
        Ok(record) if record == *expected => Verdict::Reuse,
        Ok(record) => Verdict::Redo(expected.changes_since(&record)),
        Err(error) => {
            tracing::debug!("{}: {error}", path.display());
            Verdict::Redo("its record is unreadable".into())
        }
    }
}

/// What a step did with its outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Outputs made where there was none.
    pub new: usize,
    /// Outputs made again, counted by reason.
    pub redone: BTreeMap<String, usize>,
    /// Outputs reused as they were.
    pub reused: usize,
}

impl Tally {
    /// Counts an output the step made or reused as `verdict` said.
    pub fn count(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Make => self.new += 1,
            Verdict::Reuse => self.reused += 1,
            Verdict::Redo(reason) => *self.redone.entry(reason.clone()).or_default() += 1,
        }
    }

    /// Outputs made again.
    pub fn redone(&self) -> usize {
        self.redone.values().sum()
    }

    /// Outputs made, new or again.
    pub fn made(&self) -> usize {
        self.new + self.redone()
    }

    /// ` (4 redone: seed changed)`, ` (6 redone: 4 seed changed, 2 --force)`, or nothing.
    pub fn redone_note(&self) -> String {
        if self.redone.is_empty() {
            return String::new();
        }
        format!(" ({} redone: {})", self.redone(), self.redone_reasons())
    }

    /// `4 generated (4 redone: seed changed), 14 reused`: `made_as` follows the count of what
    /// was made; the reused ones are left out when there are none.
    pub fn describe(&self, made_as: &str) -> String {
        let mut text = format!("{} {made_as}{}", self.made(), self.redone_note());
        if self.reused > 0 {
            text.push_str(&format!(", {} reused", self.reused));
        }
        text
    }

    /// The reasons, with their counts when there are several.
    fn redone_reasons(&self) -> String {
        if self.redone.len() == 1 {
            return self.redone.keys().next().cloned().unwrap_or_default();
        }
        self.redone
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seed: u64) -> Provenance {
        Provenance {
            seed: Some(seed),
            final_length: Some(1000),
            recordings: BTreeMap::from([("alto_48.wav".into(), "sha256:00".into())]),
            ..Provenance::new(ModelIdentity::Tone)
        }
    }

    #[test]
    fn an_output_is_reused_only_with_its_own_record_and_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("gen_a.wav");
        assert_eq!(verdict(&output, &record(1), false), Verdict::Make);
        std::fs::write(&output, b"audio").unwrap();
        assert_eq!(
            verdict(&output, &record(1), false),
            Verdict::Redo("no record of what made it".into())
        );
        write_record(&output, &record(1)).unwrap();
        assert!(record_path(&output).ends_with("gen_a.wav.provenance.json"));
        assert_eq!(verdict(&output, &record(1), false), Verdict::Reuse);
        assert_eq!(
            verdict(&output, &record(1), true),
            Verdict::Redo("--force".into())
        );
        assert_eq!(
            verdict(&output, &record(2), false),
            Verdict::Redo("seed changed".into())
        );
        std::fs::write(record_path(&output), b"{\"model\": 3}").unwrap();
        assert_eq!(
            verdict(&output, &record(1), false),
            Verdict::Redo("its record is unreadable".into())
        );
        remove_with_record(&output);
        assert!(!output.exists() && !record_path(&output).exists());
    }

    #[test]
    fn changes_are_named() {
        let mut other = record(2);
        other
            .recordings
            .insert("bass_48.wav".into(), "sha256:11".into());
        other.final_length = Some(800);
        assert_eq!(
            other.changes_since(&record(1)),
            "seed, final_length and recordings changed"
        );
        assert_eq!(record(1).changes_since(&record(1)), "nothing changed");
    }

    #[test]
    fn a_tally_says_what_was_made_redone_and_reused() {
        let mut tally = Tally::default();
        assert_eq!(tally.describe("generated"), "0 generated");
        tally.count(&Verdict::Reuse);
        tally.count(&Verdict::Redo("seed changed".into()));
        tally.count(&Verdict::Redo("seed changed".into()));
        assert_eq!(
            tally.describe("generated"),
            "2 generated (2 redone: seed changed), 1 reused"
        );
        tally.count(&Verdict::Redo("--force".into()));
        tally.count(&Verdict::Make);
        assert_eq!(
            tally.describe("cleaned"),
            "4 cleaned (3 redone: 1 --force, 2 seed changed), 1 reused"
        );
    }

    #[test]
    fn a_record_is_plain_json() {
        let text = serde_json::to_value(record(1)).unwrap();
        assert_eq!(
            text,
            serde_json::json!({
                "model": {"kind": "tone"},
                "dry_run": true,
                "seed": 1,
                "final_length": 1000,
                "recordings": {"alto_48.wav": "sha256:00"},
            })
        );
    }
}
