//! Step 01 (spec §7.2, and the `encode` command): recordings to embeddings. Each recording is
//! read as the encoder reads it (16 kHz mono, whole 512-sample frames, at most a note), encoded,
//! checked for one frame per 512 samples and written atomically as `<stem>_embeddings.npy`, with
//! its record (the model, how much was encoded, the recording's digest); an embedding whose
//! record matches is reused, any other is made again. A recording that cannot be used (not
//! audio, empty, too short, silent) is skipped with a warning and listed in the report, or is
//! the error with `strict`. For a pipeline run, the recordings are `<instrument>_<pitch>` in the
//! work folder and every embedding has the note's length. The model itself is behind
//! [`Synthesizer`]; nothing here interpolates or generates.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::PipelineConfig;
use super::provenance::{verdict, write_record, Provenance, RecordError, Tally};
use super::workdir::Workdir;
use super::PipelineError;
use crate::audio::{load_for_encoding, AudioError, RECORDING_EXTENSIONS};
use crate::digest::file_digest;
use crate::embedding::{Embedding, HOP_LENGTH};
use crate::folder::files_with_extensions;
use crate::npy::{read_embedding, write_embedding, NpyError};
use crate::progress::Progress;
use crate::synth::Synthesizer;

/// How much of a recording is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodeLength {
    /// The first whole frames, at most this many samples.
    AtMost(usize),
    /// Exactly this many samples (a whole number of frames): a longer recording is cut and a
    /// shorter one padded with silence (spec §1), so every embedding has as many frames.
    Exactly(usize),
}

/// How [`encode_recordings`] works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// How much of each recording is encoded.
    pub length: EncodeLength,
    /// Encode every recording again, even where the embedding's record matches (`--force`).
    pub force: bool,
    /// Fail at the first recording that cannot be used instead of skipping it (`--strict`).
    pub strict: bool,
}

/// A recording that was skipped, and why.
#[derive(Debug)]
pub struct BadRecording {
    pub path: PathBuf,
    pub cause: AudioError,
}

/// What [`encode_recordings`] did.
#[derive(Debug, Default)]
pub struct EncodeReport {
    /// The embedding files it wrote, in path order.
    pub written: Vec<PathBuf>,
    /// Embeddings made, made again and reused.
    pub tally: Tally,
    /// The digest of every recording that was usable, by path.
    pub digests: HashMap<PathBuf, String>,
    /// The recordings skipped, in path order.
    pub bad: Vec<BadRecording>,
}

impl EncodeReport {
    /// Skips the recording at `path` (or, when `strict`, fails with `cause`).
    fn skip(&mut self, path: &Path, cause: AudioError, strict: bool) -> Result<(), EncodeError> {
        if strict {
            return Err(cause.into());
        }
        tracing::warn!("skipping a recording: {cause}");
        self.digests.remove(path);
        self.bad.push(BadRecording {
            path: path.to_path_buf(),
            cause,
        });
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{path} has no usable file name")]
    FileName { path: PathBuf },
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Embedding(#[from] NpyError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("the model cannot encode {path}: {cause:#}")]
    Model { path: PathBuf, cause: anyhow::Error },
    #[error("the model encoded {path} into {found} frames, expected {expected}")]
    Frames {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
}

/// The name of the embedding of the recording `<stem>.wav`.
pub(super) fn embedding_file_name(stem: &str) -> String {
    format!("{stem}_embeddings.npy")
}

/// The file name of `path` as records key it.
pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Encodes every recording, in the order given, into `out_dir/<stem>_embeddings.npy`, reusing
/// the embeddings whose record says they were made from this recording by this model in this
/// length.
pub fn encode_recordings(
    synth: &dyn Synthesizer,
    recordings: &[PathBuf],
    out_dir: &Path,
    options: &EncodeOptions,
    progress: &Progress,
) -> Result<EncodeReport, EncodeError> {
    let base = Provenance {
        note_length: Some(options.length),
        ..Provenance::new(synth.identity())
    };
    let mut report = EncodeReport::default();
    let mut todo = Vec::with_capacity(recordings.len());
    for recording in recordings {
        let stem = recording
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| EncodeError::FileName {
                path: recording.clone(),
            })?;
        let out = out_dir.join(embedding_file_name(stem));
        let digest = match file_digest(recording) {
            Ok(digest) => digest,
            Err(cause) => {
                let cause = AudioError::Open {
                    path: recording.clone(),
                    cause,
                };
                report.skip(recording, cause, options.strict)?;
                continue;
            }
        };
        let record = Provenance {
            recordings: BTreeMap::from([(file_name(recording), digest.clone())]),
            ..base.clone()
        };
        report.digests.insert(recording.clone(), digest);
        let verdict = verdict(&out, &record, options.force);
        if verdict.is_work() {
            todo.push((recording, out, record, verdict));
        } else {
            report.tally.count(&verdict);
        }
    }
    let bar = progress.bar("encode", todo.len() as u64, "recordings");
    for (recording, out, record, verdict) in todo {
        let (EncodeLength::AtMost(samples) | EncodeLength::Exactly(samples)) = options.length;
        let loaded = load_for_encoding(recording, samples).map(|mut audio| {
            if let EncodeLength::Exactly(samples) = options.length {
                audio.resize(samples, 0.0);
            }
            audio
        });
        match loaded {
            Ok(audio) => {
                write_embedding(&out, &encode_audio(synth, recording, &audio)?)?;
                write_record(&out, &record)?;
                report.tally.count(&verdict);
                report.written.push(out);
            }
            Err(cause) => report.skip(recording, cause, options.strict)?,
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Encodes `audio`, read from `recording`, and checks that the model kept one frame per 512
/// samples.
pub fn encode_audio(
    synth: &dyn Synthesizer,
    recording: &Path,
    audio: &[f32],
) -> Result<Embedding, EncodeError> {
    let embedding = synth.encode(audio).map_err(|cause| EncodeError::Model {
        path: recording.to_path_buf(),
        cause,
    })?;
    let expected = audio.len() / HOP_LENGTH;
    if embedding.frames() != expected {
        return Err(EncodeError::Frames {
            path: recording.to_path_buf(),
            expected,
            found: embedding.frames(),
        });
    }
    Ok(embedding)
}

/// A note: an instrument at a MIDI pitch.
pub(super) type Note = (String, u8);

/// What step 01 of a run leaves for the later steps.
pub(super) struct EncodedNotes {
    /// The embedding of every note whose recording is usable.
    pub embeddings: HashMap<Note, Embedding>,
    /// The file name and digest of every usable note's recording.
    pub recordings: HashMap<Note, (String, String)>,
    /// Embeddings made, made again and reused.
    pub tally: Tally,
    /// The recordings skipped.
    pub bad: Vec<BadRecording>,
}

/// Step 01 of a run: the embedding of every instrument at every pitch, encoding the recordings
/// whose embedding is not there or not made from them; every recording must be there.
/// Embeddings mixed on a pad must have the same number of frames.
pub(super) fn encode_notes(
    config: &PipelineConfig,
    dirs: &Workdir,
    synth: &dyn Synthesizer,
    options: &EncodeOptions,
    progress: &Progress,
) -> Result<EncodedNotes, PipelineError> {
    let (notes, paths): (Vec<Note>, Vec<PathBuf>) =
        note_recordings(config, dirs)?.into_iter().unzip();
    let report = encode_recordings(synth, &paths, &dirs.input_embeddings, options, progress)?;

    let mut encoded = EncodedNotes {
        embeddings: HashMap::new(),
        recordings: HashMap::new(),
        tally: report.tally,
        bad: report.bad,
    };
    let mut frames_at: HashMap<u8, (PathBuf, usize)> = HashMap::new();
    for (note, recording) in notes.into_iter().zip(&paths) {
        let Some(digest) = report.digests.get(recording) else {
            continue;
        };
        let path = dirs.input_embedding(&note_stem(&note));
        let embedding = read_embedding(&path)?;
        let (first, first_frames) = frames_at
            .entry(note.1)
            .or_insert_with(|| (path.clone(), embedding.frames()))
            .clone();
        if first_frames != embedding.frames() {
            return Err(PipelineError::FrameMismatch {
                pitch: note.1,
                first,
                first_frames,
                second: path,
                second_frames: embedding.frames(),
            });
        }
        encoded
            .recordings
            .insert(note.clone(), (file_name(recording), digest.clone()));
        encoded.embeddings.insert(note, embedding);
    }
    Ok(encoded)
}

/// Every note of the settings' instruments and pitches with its recording, in instrument then
/// pitch order; an error naming every note without one.
pub(super) fn note_recordings(
    config: &PipelineConfig,
    dirs: &Workdir,
) -> Result<Vec<(Note, PathBuf)>, PipelineError> {
    let notes: Vec<Note> = config
        .instruments()
        .flat_map(|i| config.layout.pitches.iter().map(|&p| (i.name.clone(), p)))
        .collect();
    let recordings = recordings_by_stem(&dirs.recordings)?;
    let missing: Vec<String> = notes
        .iter()
        .map(note_stem)
        .filter(|stem| !recordings.contains_key(stem))
        .collect();
    if !missing.is_empty() {
        return Err(PipelineError::MissingRecordings {
            dir: dirs.recordings.clone(),
            missing: missing.join(", "),
        });
    }
    Ok(notes
        .into_iter()
        .map(|note| {
            let path = recordings[&note_stem(&note)].clone();
            (note, path)
        })
        .collect())
}

/// The file stem of a note's recording and embedding: `<instrument>_<pitch>`.
fn note_stem((name, pitch): &Note) -> String {
    format!("{name}_{pitch}")
}

/// The recordings in `dir` by file stem (`<instrument>_<pitch>`).
fn recordings_by_stem(dir: &Path) -> Result<HashMap<String, PathBuf>, PipelineError> {
    let paths = files_with_extensions(dir, &RECORDING_EXTENSIONS).map_err(|cause| {
        PipelineError::ListRecordings {
            path: dir.to_path_buf(),
            cause,
        }
    })?;
    let mut recordings: HashMap<String, PathBuf> = HashMap::new();
    for path in paths {
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if let Some(first) = recordings.insert(stem.to_string(), path.clone()) {
            return Err(PipelineError::DuplicateRecording {
                first,
                second: path,
            });
        }
    }
    Ok(recordings)
}
