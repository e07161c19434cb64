//! `host-tools logits`: the decoder's teacher-forced logits `[T, 256]` for a recording and its
//! embedding, for checking the model against other implementations and for research.

use std::path::Path;
use std::process::ExitCode;

use anyhow::ensure;

use crate::audio::{load_for_encoding, NOTE_SAMPLES};
use crate::embedding::HOP_LENGTH;
use crate::npy::{read_embedding, write_f32_array};
use crate::synth::NsynthSynthesizer;

/// Writes the teacher-forced logits `[T, 256]` of the model for the recording `audio` (read as
/// `encode` reads it: 16 kHz mono, at most 4 s, whole 512-sample frames) conditioned on the
/// embedding file `encoding`, which must have one frame per 512 samples, to `out`.
pub fn run(
    synth: &NsynthSynthesizer,
    audio: &Path,
    encoding: &Path,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let samples = load_for_encoding(audio, NOTE_SAMPLES)?;
    let embedding = read_embedding(encoding)?;
    ensure!(
        embedding.samples() == samples.len(),
        "{} has {} frames, but {} has {} samples ({} frames of {HOP_LENGTH})",
        encoding.display(),
        embedding.frames(),
        audio.display(),
        samples.len(),
        samples.len() / HOP_LENGTH
    );
    let logits = synth.teacher_forced_logits(&samples, embedding.values())?;
    let (rows, classes) = (samples.len(), logits.len() / samples.len());
    write_f32_array(out, &[rows, classes], &logits)?;
    println!("wrote {} ([{rows}, {classes}])", out.display());
    Ok(ExitCode::SUCCESS)
}
