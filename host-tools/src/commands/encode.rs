//! `host-tools encode`: a recording, or a folder of them, into embedding files, by the
//! pipeline's step 01 with at most the first 4 s of each recording; what it wrote, reused and
//! skipped, and the exit status that says some recordings were skipped.

use std::path::Path;
use std::process::ExitCode;

use super::{create_dir, inputs};
use crate::audio::{NOTE_SAMPLES, RECORDING_EXTENSIONS};
use crate::pipeline::{encode_recordings, BadRecording, EncodeLength, EncodeOptions, EncodeReport};
use crate::progress::Progress;
use crate::synth::Synthesizer;

/// Exit status of `encode` and `pipeline` when they skipped recordings that cannot be used.
pub const SKIPPED_STATUS: u8 = 2;

/// Encodes and says how many embeddings it wrote, reused and skipped.
pub fn run(
    synth: &dyn Synthesizer,
    input: &Path,
    out_dir: &Path,
    force: bool,
    strict: bool,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let report = encode(synth, input, out_dir, force, strict, progress)?;
    let total = report.tally.made() + report.tally.reused + report.bad.len();
    let status = skipped(&report.bad, total);
    let written = format!("embeddings to {}", out_dir.display());
    println!("wrote {}", report.tally.describe(&written));
    Ok(status)
}

/// Lists the recordings skipped out of `total` and returns the exit status: success when none
/// was.
pub(super) fn skipped(bad: &[BadRecording], total: usize) -> ExitCode {
    if bad.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!("skipped {} of {total} recordings:", bad.len());
    for recording in bad {
        println!("  {}", recording.cause);
    }
    ExitCode::from(SKIPPED_STATUS)
}

/// Encodes one recording, or every recording (`.wav`, `.aif`, `.aiff`, `.flac`) of a folder in
/// path order, into `out_dir/<stem>_embeddings.npy` (`[frames, 16]`; at most the first 4 s, cut
/// to whole 512-sample frames, as `nsynth_save_embeddings`). Resumable: a recording whose
/// embedding's record says it was made from this very recording by this model is skipped, since
/// embeddings are written atomically and an existing one is complete; with `force`, none is.
/// Recordings that cannot be used are skipped, or with `strict` are the error.
pub(super) fn encode(
    synth: &dyn Synthesizer,
    input: &Path,
    out_dir: &Path,
    force: bool,
    strict: bool,
    progress: &Progress,
) -> anyhow::Result<EncodeReport> {
    let recordings = inputs(
        input,
        &RECORDING_EXTENSIONS,
        "recordings (.wav, .aif, .aiff or .flac)",
    )?;
    create_dir(out_dir)?;
    let options = EncodeOptions {
        length: EncodeLength::AtMost(NOTE_SAMPLES),
        force,
        strict,
    };
    Ok(encode_recordings(
        synth,
        &recordings,
        out_dir,
        &options,
        progress,
    )?)
}
