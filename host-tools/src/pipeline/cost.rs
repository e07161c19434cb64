//! What generation will cost, known before any work: the notes still to generate (those whose
//! finished audio, or for the pipeline whose cleaned note, is not reusable) with their samples,
//! how they fall into batches, and the time that takes at a measured step time. It reads
//! records, recordings (for their digests) and embeddings (for their lengths); it never writes
//! anything or runs the model.

use std::collections::HashMap;
use std::path::Path;

use super::encode::{file_name, note_recordings};
use super::grid::Plan;
use super::inputs::RunInputs;
use super::provenance::{verdict, Verdict};
use super::workdir::Workdir;
use super::{shard_of, GenerationTask, PipelineConfig, PipelineError, PipelineOptions};
use crate::digest::file_digest;
use crate::model::HOP_LENGTH;
use crate::npy::read_embedding;
use crate::synth::ModelIdentity;

/// The notes a run will generate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerationCost {
    /// Samples of each note still to generate, in the order generation takes them (from the
    /// start: a checkpoint it resumes from only makes it shorter).
    pub lengths: Vec<usize>,
    /// Notes already made, to be reused.
    pub reused: usize,
}

impl GenerationCost {
    pub fn notes(&self) -> usize {
        self.lengths.len()
    }

    pub fn samples(&self) -> u64 {
        self.lengths.iter().map(|&length| length as u64).sum()
    }

    /// Seconds to generate them all in batches of `batch_size` notes (each batch steps as long
    /// as its longest note), `workers` batches at a time, each step taking `seconds_per_step`.
    pub fn seconds(&self, batch_size: usize, seconds_per_step: f64, workers: usize) -> f64 {
        let batches: Vec<usize> = self
            .lengths
            .chunks(batch_size.max(1))
            .map(|batch| batch.iter().copied().max().unwrap_or(0))
            .collect();
        let steps: usize = batches.iter().sum();
        let workers = workers.clamp(1, batches.len().max(1));
        steps as f64 * seconds_per_step / workers as f64
    }
}

/// The cost of `tasks` (the `generate` command's): each task whose output is not reusable,
/// with its embedding's length.
pub fn tasks_cost(tasks: &[GenerationTask], force: bool) -> Result<GenerationCost, PipelineError> {
    let mut cost = GenerationCost::default();
    for task in tasks {
        if verdict(&task.output, &task.provenance, force).is_work() {
            let frames = read_embedding(&task.embedding)?.frames();
            cost.lengths.push(frames * HOP_LENGTH);
        } else {
            cost.reused += 1;
        }
    }
    Ok(cost)
}

/// The cost of a pipeline run in `workdir` by `model`, before it encodes anything: every sound
/// of the shard whose cleaned note and generated audio are not reusable, given the recordings
/// as they are now (one that cannot be read is counted as the run would skip it).
pub fn pipeline_cost(
    config: &PipelineConfig,
    workdir: &Path,
    model: ModelIdentity,
    options: &PipelineOptions,
) -> Result<GenerationCost, PipelineError> {
    let shard = shard_of(config, options)?;
    let dirs = Workdir::new(workdir, model.is_dry_run());
    let mut recordings = HashMap::new();
    for (note, path) in note_recordings(config, &dirs)? {
        if let Ok(digest) = file_digest(&path) {
            recordings.insert(note, (file_name(&path), digest));
        }
    }
    let plan = Plan::new(config);
    let inputs = RunInputs::new(config, &plan, model, options.seed, &recordings);
    let force = options.generate.force;
    let mut cost = GenerationCost::default();
    for (k, sound) in plan.sounds.iter().enumerate() {
        if !shard.is_none_or(|shard| shard.owns(k)) {
            continue;
        }
        let Some(record) = inputs.sound(sound) else {
            continue;
        };
        let made = verdict(&dirs.cleaned(sound), &record, force) == Verdict::Reuse
            || !verdict(&dirs.generated(sound), &record, force).is_work();
        if made {
            cost.reused += 1;
        } else {
            cost.lengths.push(config.note_length);
        }
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_step_as_long_as_their_longest_note_and_workers_share_them() {
        let cost = GenerationCost {
            lengths: vec![1000, 3000, 2000, 500, 500],
            reused: 2,
        };
        assert_eq!((cost.notes(), cost.samples()), (5, 7000));
        // Batches of 2: 3000 + 2000 + 500 steps.
        assert_eq!(cost.seconds(2, 0.01, 1), 55.0);
        assert_eq!(cost.seconds(2, 0.01, 2), 27.5);
        // More workers than batches: the batches all run at once.
        assert_eq!(cost.seconds(5, 0.01, 4), 30.0);
        assert_eq!(GenerationCost::default().seconds(64, 1.0, 1), 0.0);
    }
}
