//! The seam between the pad pipeline and the NSynth model: the [`Synthesizer`] trait, the jobs
//! the pipeline hands it and the progress it reports back, and its two implementations, the
//! NSynth model ([`NsynthSynthesizer`]) and a sine stand-in ([`ToneSynthesizer`]), and what
//! identifies each in the records of what made an output ([`ModelIdentity`]). The pipeline
//! never looks inside the model, and the model never touches a file after loading: storing
//! outputs and checkpoints is the caller's job.

mod identity;
mod nsynth;
mod tone;

pub use identity::{IdentityError, ModelIdentity};
pub use nsynth::{CpuChoice, NsynthSynthesizer};
pub use tone::ToneSynthesizer;

use crate::embedding::Embedding;

/// One sound to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationJob {
    /// The conditioning; the job makes `embedding.samples()` (= frames × 512) samples.
    pub embedding: Embedding,
    /// Seed of this job's sampling randomness (see [`Synthesizer::generate`]).
    pub seed: u64,
    /// Samples an earlier, interrupted run of this same job already made (a checkpoint), to be
    /// kept exactly and continued from; empty to start from silence. Never longer than the job.
    pub resume_from: Vec<f32>,
}

/// How far a [`Synthesizer::generate`] call has come.
#[derive(Debug, Clone, Copy)]
pub struct GenerationProgress<'a> {
    /// For each job, in job order, the audio made so far, starting with its `resume_from`
    /// prefix. The caller may store these as checkpoints.
    pub partial: &'a [&'a [f32]],
}

/// An NSynth autoencoder, or a stand-in with the same contract.
///
/// Audio is 16 kHz mono `f32` in ±1 throughout. Shared between the threads that keep several
/// GPUs busy, hence `Sync`.
pub trait Synthesizer: Sync {
    /// Encodes `audio` (a non-empty whole number of 512-sample frames, already trimmed as spec §1
    /// says) into an embedding of `audio.len() / 512` frames.
    fn encode(&self, audio: &[f32]) -> anyhow::Result<Embedding>;

    /// Decodes every job and returns one buffer of exactly `embedding.samples()` samples per job,
    /// in job order, each starting with that job's `resume_from` unchanged.
    ///
    /// Contract:
    /// * Jobs are independent; a batch exists so the model can run them in lock-step, and jobs
    ///   may differ in length and in resume point.
    /// * Reproducible: a job's output depends only on its embedding and seed, not on the batch it
    ///   shares or on where it was resumed. Draw sampling randomness as a pure function of
    ///   `(seed, sample index)` (a counter-based generator), so that a job resumed from a
    ///   checkpoint continues exactly as an uninterrupted one would.
    /// * Call `progress` regularly (every few hundred to few thousand samples) with the audio
    ///   made so far; that is how the caller shows progress and saves checkpoints. If `progress`
    ///   returns an error (a checkpoint could not be stored), stop and return that error.
    fn generate(
        &self,
        jobs: &[GenerationJob],
        progress: &mut dyn FnMut(GenerationProgress<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Vec<f32>>>;

    /// What this model is, for the records of what made each output: outputs of another
    /// checkpoint, other stages or the stand-in are never taken for this model's.
    fn identity(&self) -> ModelIdentity;

    /// Batches worth running at once, from as many threads (one per GPU); 1 for a model that
    /// uses the whole machine for one batch.
    fn concurrency(&self) -> usize {
        1
    }

    /// How to make `notes` notes in batches of at most `batch_size`: by default, batches made
    /// smaller where that gives every worker ([`concurrency`]) one, and as many at once as
    /// there are batches, up to one per worker.
    ///
    /// [`concurrency`]: Synthesizer::concurrency
    fn batching(&self, notes: usize, batch_size: usize) -> Batching {
        Batching::spread(notes, batch_size, self.concurrency())
    }

    /// The caller is about to run `batches` batches at once (at most [`concurrency`]), so a
    /// model whose workers share one machine can give each its share (the CPU's threads split
    /// into that many groups; one batch at a time, until told otherwise).
    ///
    /// [`concurrency`]: Synthesizer::concurrency
    fn expect_batches_at_once(&self, _batches: usize) {}

    /// How fast this model generates a batch of `batch` notes (samples per second), measured
    /// on a few steps of the real model where it runs; `None` where that is not worth measuring (the
    /// stand-in's tones take no time to speak of).
    fn generation_rate(&self, _batch: usize) -> anyhow::Result<Option<MeasuredRate>> {
        Ok(None)
    }
}

/// Notes per batch and batches run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub size: usize,
    pub at_once: usize,
}

impl Batching {
    /// Batches of at most `batch_size`, made smaller where that gives each of `workers` one.
    pub fn spread(notes: usize, batch_size: usize, workers: usize) -> Self {
        let size = batch_size.min(notes.div_ceil(workers.max(1))).max(1);
        Self::whole(notes, size, workers)
    }

    /// Batches of `batch_size` (the last one what is left), up to `workers` at once.
    pub fn whole(notes: usize, batch_size: usize, workers: usize) -> Self {
        let size = batch_size.max(1);
        Self {
            size,
            at_once: notes.div_ceil(size).clamp(1, workers.max(1)),
        }
    }

    /// Batches in all.
    pub fn batches(&self, notes: usize) -> usize {
        notes.div_ceil(self.size)
    }
}

/// A generation speed, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredRate {
    /// Samples per second of one batch (while as many others run as will in the run).
    pub samples_per_second: f64,
    /// Samples measured (notes × steps, over every batch timed).
    pub samples: usize,
    /// Where it was measured, e.g. `the CPU (2 threads, f32 weights)`.
    pub device: String,
}

/// The seed of the sound `name` in a run seeded with `run_seed`: the same sound gets the same seed
/// however the work is batched or sharded, and different sounds get unrelated seeds.
pub fn job_seed(run_seed: u64, name: &str) -> u64 {
    use crate::model::{fnv1a, mix};
    mix(run_seed ^ mix(fnv1a(name.bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_spread_over_the_workers_or_kept_whole() {
        let spread = |notes, size, workers| {
            let batching = Batching::spread(notes, size, workers);
            (batching.size, batching.at_once)
        };
        assert_eq!(spread(1000, 64, 1), (64, 1));
        assert_eq!(spread(1000, 64, 2), (64, 2));
        assert_eq!(spread(18, 64, 2), (9, 2));
        assert_eq!(spread(19, 64, 2), (10, 2));
        assert_eq!(spread(1, 64, 4), (1, 1));
        assert_eq!(spread(5, 0, 0), (1, 1));
        let whole = |notes, size, workers| {
            let batching = Batching::whole(notes, size, workers);
            (batching.size, batching.at_once, batching.batches(notes))
        };
        assert_eq!(whole(18, 64, 2), (64, 1, 1));
        assert_eq!(whole(100, 64, 2), (64, 2, 2));
        assert_eq!(whole(1000, 64, 2), (64, 2, 16));
    }

    #[test]
    fn seeds_depend_on_name_and_run_seed_only() {
        assert_eq!(
            job_seed(7, "brass_1.0_pitch_24"),
            job_seed(7, "brass_1.0_pitch_24")
        );
        assert_ne!(
            job_seed(7, "brass_1.0_pitch_24"),
            job_seed(8, "brass_1.0_pitch_24")
        );
        assert_ne!(
            job_seed(7, "brass_1.0_pitch_24"),
            job_seed(7, "brass_1.0_pitch_28")
        );
    }
}
