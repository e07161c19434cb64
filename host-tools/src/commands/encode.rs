//! `host-tools encode`: a recording, or a folder of them, into embedding files, by the
//! pipeline's step 01 with at most the first 4 s of each recording.

use std::path::Path;
use std::process::ExitCode;

use super::{create_dir, inputs};
use crate::audio::{NOTE_SAMPLES, RECORDING_EXTENSIONS};
use crate::pipeline::{encode_recordings, EncodeLength, EncodeReport};
use crate::progress::Progress;
use crate::synth::Synthesizer;

/// Encodes and says how many embeddings it wrote.
pub fn run(
    synth: &dyn Synthesizer,
    input: &Path,
    out_dir: &Path,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let report = encode(synth, input, out_dir, progress)?;
    println!(
        "wrote {} embeddings to {} ({} already there)",
        report.written.len(),
        out_dir.display(),
        report.skipped
    );
    Ok(ExitCode::SUCCESS)
}

/// Encodes one recording, or every recording (`.wav`, `.aif`, `.aiff`, `.flac`) of a folder in
/// path order, into `out_dir/<stem>_embeddings.npy` (`[frames, 16]`; at most the first 4 s, cut
/// to whole 512-sample frames, as `nsynth_save_embeddings`). Resumable: a recording whose
/// embedding exists is skipped, since embeddings are written atomically and an existing one is
/// complete.
pub(super) fn encode(
    synth: &dyn Synthesizer,
    input: &Path,
    out_dir: &Path,
    progress: &Progress,
) -> anyhow::Result<EncodeReport> {
    let recordings = inputs(
        input,
        &RECORDING_EXTENSIONS,
        "recordings (.wav, .aif, .aiff or .flac)",
    )?;
    create_dir(out_dir)?;
    let length = EncodeLength::AtMost(NOTE_SAMPLES);
    Ok(encode_recordings(
        synth,
        &recordings,
        out_dir,
        length,
        progress,
    )?)
}
