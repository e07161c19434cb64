//! The Open NSynth Super pad pipeline (spec §7): from one recording per instrument and pitch to
//! the device's pad files and settings, through the NSynth model behind [`Synthesizer`].
//! Each step has its own module, named as in the table below; [`run`] only runs them in order
//! over the work directory. Every output is written atomically, so a file under its final name
//! is always complete, and gets a record of what made it ([`provenance`]); each step reuses the
//! outputs whose record matches what the inputs call for now and redoes the others, so a run
//! that stops anywhere can be started again and only does what is left, and a changed input
//! (a recording, the seed, `note_length`, `final_length`, the checkpoint) redoes exactly the
//! outputs made from it. Recordings that cannot be used are skipped, and so are the sounds and
//! pads that need them.
//!
//! Work directory (the original's folder names; a dry run's outputs go to the same folders
//! inside `dry-run/`):
//!
//! | folder | step | contents |
//! |---|---|---|
//! | `audio_input/` | input | `<instrument>_<pitch>.wav` (or `.aif`, `.aiff`, `.flac`), written by the user |
//! | `embeddings_input/` | 01 encode | `<instrument>_<pitch>_embeddings.npy`, `[125, 16]` |
//! | `embeddings_output/` | 02 interpolate | `<sound>.npy`, `[125, 16]`, only for sounds still to make |
//! | `audio_output/` | 03–04 generate | `gen_<sound>.wav` (float, spec §4.6) and `.checkpoint`s |
//! | `output_wav/` | 05 clean | `gen_<sound>.wav`, 16-bit, clicks removed, peak −12 dBFS |
//! | `pads_output/` | 06 pads | `<c0>_<c1>_<c2>_<c3>.bin` and the device `settings.json` |
//!
//! Each output `X` in them has its record `X.provenance.json` beside it.
//!
//! Sharding (the original's `gpus` batch folders): sound `k` of the plan belongs to shard
//! `k mod N`, where `N` is the settings' `gpus` unless the run names its own count ([`shard`]).
//! A run with a shard generates and cleans only that shard, so several machines can share a work
//! directory; the pads are built by whichever run finds every sound cleaned.

mod clean;
pub mod config;
mod cost;
mod encode;
mod generate;
pub mod grid;
mod inputs;
mod interpolate;
pub mod pads;
pub mod provenance;
pub mod shard;
mod workdir;

use std::path::{Path, PathBuf};

use crate::audio::AudioError;
use crate::npy::NpyError;
use crate::progress::Progress;
use crate::synth::Synthesizer;
use clean::clean_sounds;
pub use clean::{clean, normalize_peak, remove_clicks, PEAK_DBFS};
pub use config::{ConfigError, PipelineConfig};
use config::{CORNER_KEYS, SCREEN_CORNERS};
pub use cost::{pipeline_cost, tasks_cost, GenerationCost};
use encode::encode_notes;
pub use encode::{
    encode_audio, encode_recordings, BadRecording, EncodeError, EncodeLength, EncodeOptions,
    EncodeReport,
};
pub use generate::{
    checkpoint_path, generate, GenerateError, GenerateOptions, GenerateReport, GenerationTask,
    CHECKPOINT_SUFFIX,
};
use grid::Plan;
use inputs::RunInputs;
use interpolate::{interpolate_sounds, SoundWork};
use pads::{build_pads, PadError};
use provenance::{verdict, RecordError, Tally, Verdict};
pub use shard::{Shard, ShardError, ShardSpec};
use workdir::Workdir;
pub use workdir::{
    CLEANED_DIR, DEVICE_SETTINGS_FILE, DRY_RUN_DIR, GENERATED_DIR, INPUT_EMBEDDINGS_DIR, PADS_DIR,
    RECORDINGS_DIR, SOUND_EMBEDDINGS_DIR,
};

/// How a pipeline run works.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PipelineOptions {
    /// Batching and checkpoints of the generation step; its `force` (`--force`) redoes every
    /// step's outputs, even those whose record matches.
    pub generate: GenerateOptions,
    /// Seed of the run; each sound's seed is `job_seed(seed, name)`.
    pub seed: u64,
    /// Generate and clean only this shard (a bare index counts shards by the settings' `gpus`);
    /// all when `None`.
    pub shard: Option<ShardSpec>,
    /// Fail at the first recording that cannot be used instead of skipping it (`--strict`).
    pub strict: bool,
}

/// What a run did.
#[derive(Debug)]
pub struct PipelineReport {
    /// Whether the sounds are sine tones (`--dry-run`) rather than NSynth's.
    pub dry_run: bool,
    /// Recordings the pads need: one per instrument and pitch.
    pub recordings: usize,
    /// Embeddings encoded, encoded again and reused.
    pub encoded: Tally,
    /// The recordings skipped.
    pub bad: Vec<BadRecording>,
    /// Unique sounds the pads need.
    pub sounds: usize,
    /// Sounds that need a skipped recording.
    pub unmade_sounds: usize,
    /// This run's sounds: generated, generated again and reused.
    pub generated: GenerateReport,
    /// This run's sounds: cleaned, cleaned again and reused.
    pub cleaned: Tally,
    /// Pads written, written again and reused (none while other shards are still to run).
    pub pads: Tally,
    /// The pads that need a skipped recording, not written.
    pub unmade_pads: Vec<String>,
    /// Whether the pads wait for sounds of other shards.
    pub waiting: bool,
    /// Where the pads and the device settings are.
    pub pads_dir: PathBuf,
}

impl PipelineReport {
    /// Whether every pad and the device settings are there, made from these inputs.
    pub fn complete(&self) -> bool {
        !self.waiting && self.unmade_pads.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot create {path}: {cause}")]
    CreateDir {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "cannot list the recordings in {path}: {cause}; put one file per instrument and pitch \
         there, named <instrument>_<pitch>.wav"
    )]
    ListRecordings {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "missing recordings in {dir}: {missing}; each instrument needs one per pitch, named \
         <instrument>_<pitch>.wav (or .aif, .aiff, .flac)"
    )]
    MissingRecordings { dir: PathBuf, missing: String },
    #[error("{first} and {second} are recordings of the same note; keep one")]
    DuplicateRecording { first: PathBuf, second: PathBuf },
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Embedding(#[from] NpyError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(
        "at pitch {pitch}, {first} has {first_frames} frames but {second} has {second_frames}: \
         the embeddings mixed on a pad must have the same length; delete the odd one to encode \
         it again from its recording"
    )]
    FrameMismatch {
        pitch: u8,
        first: PathBuf,
        first_frames: usize,
        second: PathBuf,
        second_frames: usize,
    },
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Pad(#[from] PadError),
    #[error(
        "there is no shard {shard}: the settings deal the sounds into {shards} shards (`gpus`), \
         numbered from 0; or name the count too: --shard {shard}/N"
    )]
    NoSuchShard { shard: usize, shards: usize },
}

/// Runs every step, reusing what was made from the same inputs; see the module documentation.
pub fn run(
    config: &PipelineConfig,
    workdir: &Path,
    synth: &dyn Synthesizer,
    options: &PipelineOptions,
    progress: &Progress,
) -> Result<PipelineReport, PipelineError> {
    let shard = shard_of(config, options)?;
    for note in &config.notes {
        tracing::warn!("{note}");
    }
    let placement: Vec<String> = CORNER_KEYS
        .iter()
        .zip(SCREEN_CORNERS)
        .map(|(key, corner)| format!("{key} → {corner}"))
        .collect();
    tracing::info!("corners on the device: {}", placement.join(", "));
    let model = synth.identity();
    let dry_run = model.is_dry_run();
    let dirs = Workdir::new(workdir, dry_run);
    if dry_run {
        tracing::info!(
            "dry run: sine tones instead of NSynth, written in {}",
            workdir.join(DRY_RUN_DIR).display()
        );
    }
    dirs.create_outputs()?;

    let force = options.generate.force;
    let encode_options = EncodeOptions {
        length: EncodeLength::Exactly(config.note_length),
        force,
        strict: options.strict,
    };
    let notes = encode_notes(config, &dirs, synth, &encode_options, progress)?;
    let plan = Plan::new(config);
    tracing::info!(
        "{} pads need {} unique sounds",
        plan.pads.len(),
        plan.sounds.len()
    );
    let inputs = RunInputs::new(config, &plan, model, options.seed, &notes.recordings);
    let mut unmade_sounds = 0;
    let mut mine = Vec::new();
    let mut others = Vec::new();
    for (k, sound) in plan.sounds.iter().enumerate() {
        let Some(record) = inputs.sound(sound) else {
            unmade_sounds += 1;
            continue;
        };
        let work = SoundWork { sound, record };
        if shard.is_none_or(|shard| shard.owns(k)) {
            mine.push(work);
        } else {
            others.push(work);
        }
    }
    let tasks = interpolate_sounds(
        config,
        &plan,
        &mine,
        &notes.embeddings,
        &dirs,
        options.seed,
        force,
    )?;
    let mut generated = generate(synth, &tasks, &options.generate, progress)?;
    // Sounds whose cleaned note is reused need no generated audio either.
    generated.tally.reused += mine.len() - tasks.len();
    let cleaned = clean_sounds(&mine, &dirs, force, progress)?;

    let mut report = PipelineReport {
        dry_run,
        recordings: notes.tally.made() + notes.tally.reused + notes.bad.len(),
        encoded: notes.tally,
        bad: notes.bad,
        sounds: plan.sounds.len(),
        unmade_sounds,
        generated,
        cleaned,
        pads: Tally::default(),
        unmade_pads: Vec::new(),
        waiting: false,
        pads_dir: dirs.pads.clone(),
    };
    let waiting = others
        .iter()
        .filter(|work| verdict(&dirs.cleaned(work.sound), &work.record, false) != Verdict::Reuse)
        .count();
    if waiting > 0 {
        tracing::info!("pads wait for {waiting} sounds of other shards");
        report.waiting = true;
        return Ok(report);
    }
    let pads = build_pads(config, &plan, &dirs, &inputs, force, progress)?;
    report.pads = pads.tally;
    report.unmade_pads = pads.cannot;
    Ok(report)
}

/// The shard of the generation this run makes, if any: `--shard K/N`, or `--shard K` of the
/// settings' `gpus` shards.
fn shard_of(
    config: &PipelineConfig,
    options: &PipelineOptions,
) -> Result<Option<Shard>, PipelineError> {
    options
        .shard
        .map(|spec| match spec {
            ShardSpec::Of(shard) => Ok(shard),
            ShardSpec::Index(index) => {
                Shard::new(index, config.shards).map_err(|_| PipelineError::NoSuchShard {
                    shard: index,
                    shards: config.shards,
                })
            }
        })
        .transpose()
}

#[cfg(test)]
mod tests;
