//! Step 01 (spec §7.2, and the `encode` command): recordings to embeddings. Each recording is
//! read as the encoder reads it (16 kHz mono, whole 512-sample frames, at most a note), encoded,
//! checked for one frame per 512 samples and written atomically as `<stem>_embeddings.npy`, so
//! an embedding that is there is complete and is skipped. For a pipeline run, the recordings
//! are `<instrument>_<pitch>` in the work folder and every embedding has the note's length.
//! The model itself is behind [`Synthesizer`]; nothing here interpolates or generates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::config::PipelineConfig;
use super::workdir::Workdir;
use super::PipelineError;
use crate::audio::{load_for_encoding, AudioError, RECORDING_EXTENSIONS};
use crate::embedding::{Embedding, HOP_LENGTH};
use crate::folder::files_with_extensions;
use crate::npy::{read_embedding, write_embedding, NpyError};
use crate::progress::Progress;
use crate::synth::Synthesizer;

/// How much of a recording is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeLength {
    /// The first whole frames, at most this many samples.
    AtMost(usize),
    /// Exactly this many samples (a whole number of frames): a longer recording is cut and a
    /// shorter one padded with silence (spec §1), so every embedding has as many frames.
    Exactly(usize),
}

/// What [`encode_recordings`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeReport {
    /// The embedding files it wrote, in path order.
    pub written: Vec<PathBuf>,
    /// Recordings whose embedding was already there.
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{path} has no usable file name")]
    FileName { path: PathBuf },
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Embedding(#[from] NpyError),
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

/// Encodes every recording, in the order given, into `out_dir/<stem>_embeddings.npy`, skipping
/// those whose embedding is already there.
pub fn encode_recordings(
    synth: &dyn Synthesizer,
    recordings: &[PathBuf],
    out_dir: &Path,
    length: EncodeLength,
    progress: &Progress,
) -> Result<EncodeReport, EncodeError> {
    let mut todo = Vec::with_capacity(recordings.len());
    for recording in recordings {
        let stem = recording
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| EncodeError::FileName {
                path: recording.clone(),
            })?;
        let out = out_dir.join(embedding_file_name(stem));
        if !out.exists() {
            todo.push((recording, out));
        }
    }
    let skipped = recordings.len() - todo.len();
    if skipped > 0 {
        tracing::info!("{skipped} embeddings are already in {}", out_dir.display());
    }
    let bar = progress.bar("encode", todo.len() as u64, "recordings");
    let mut written = Vec::with_capacity(todo.len());
    for (recording, out) in todo {
        let audio = match length {
            EncodeLength::AtMost(samples) => load_for_encoding(recording, samples)?,
            EncodeLength::Exactly(samples) => {
                let mut audio = load_for_encoding(recording, samples)?;
                audio.resize(samples, 0.0);
                audio
            }
        };
        write_embedding(&out, &encode_audio(synth, recording, &audio)?)?;
        written.push(out);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(EncodeReport { written, skipped })
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

/// Step 01 of a run: the embedding of every instrument at every pitch, encoding the recordings
/// whose embedding is not there yet, which must all be there. Embeddings mixed on a pad must
/// have the same number of frames.
pub(super) fn encode_notes(
    config: &PipelineConfig,
    dirs: &Workdir,
    synth: &dyn Synthesizer,
    progress: &Progress,
) -> Result<HashMap<(String, u8), Embedding>, PipelineError> {
    let notes: Vec<(String, u8)> = config
        .instruments()
        .flat_map(|i| config.layout.pitches.iter().map(|&p| (i.name.clone(), p)))
        .collect();
    let stem = |(name, pitch): &(String, u8)| format!("{name}_{pitch}");
    let to_encode: Vec<String> = notes
        .iter()
        .map(stem)
        .filter(|stem| !dirs.input_embedding(stem).exists())
        .collect();
    if !to_encode.is_empty() {
        let recordings = recordings_by_stem(&dirs.recordings)?;
        let missing: Vec<&str> = to_encode
            .iter()
            .filter(|stem| !recordings.contains_key(*stem))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(PipelineError::MissingRecordings {
                dir: dirs.recordings.clone(),
                missing: missing.join(", "),
            });
        }
        let paths: Vec<PathBuf> = to_encode
            .iter()
            .map(|stem| recordings[stem].clone())
            .collect();
        encode_recordings(
            synth,
            &paths,
            &dirs.input_embeddings,
            EncodeLength::Exactly(config.note_length),
            progress,
        )?;
    }

    let mut inputs = HashMap::new();
    let mut frames_at: HashMap<u8, (PathBuf, usize)> = HashMap::new();
    for note in notes {
        let path = dirs.input_embedding(&stem(&note));
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
        inputs.insert(note, embedding);
    }
    Ok(inputs)
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
