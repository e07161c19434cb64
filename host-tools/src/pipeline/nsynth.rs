//! The real [`Synthesizer`]: the NSynth model loaded from a checkpoint (TensorFlow or
//! safetensors), encoding on the CPU and generating batches in lock-step with resumable,
//! seed-determined sampling. It adapts the model's calls to the pipeline's seam and never
//! touches a file after loading.

use std::path::Path;

use anyhow::Context as _;

use super::synth::{GenerationJob, GenerationProgress, Synthesizer};
use crate::checkpoint::Checkpoint;
use crate::embedding::Embedding;
use crate::model::{self, Model, Note, Stages};

/// Samples between two progress reports of a batch: about a second of work at batch 64 on two
/// cores, often enough for a smooth bar and cheap next to the steps.
const REPORT_EVERY: usize = 2048;

/// The NSynth autoencoder as a [`Synthesizer`].
pub struct NsynthSynthesizer {
    model: Model,
}

impl NsynthSynthesizer {
    /// Loads the model from the checkpoint at `path` (a TensorFlow checkpoint prefix or
    /// `.index` file, or a `.safetensors` file), with the given dilation cycles
    /// ([`Stages::MAGENTA`] for the released model).
    pub fn open(path: &Path, stages: Stages) -> anyhow::Result<Self> {
        let checkpoint = Checkpoint::open(path)?;
        let model = Model::load(&checkpoint, stages)
            .with_context(|| format!("cannot load the NSynth model from {}", path.display()))?;
        Ok(Self { model })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }
}

impl Synthesizer for NsynthSynthesizer {
    fn encode(&self, audio: &[f32]) -> anyhow::Result<Embedding> {
        let tensor = self.model.encode(audio)?;
        Embedding::new(tensor.data).context("the encoder made no frames")
    }

    fn generate(
        &self,
        jobs: &[GenerationJob],
        progress: &mut dyn FnMut(GenerationProgress<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let notes: Vec<Note<'_>> = jobs
            .iter()
            .map(|job| Note {
                embedding: job.embedding.values(),
                seed: job.seed,
                prefix: &job.resume_from,
            })
            .collect();
        let mut failure = None;
        let finished = model::generate(&self.model, &notes, REPORT_EVERY, |time, audio| {
            let partial: Vec<&[f32]> = audio
                .iter()
                .map(|track| &track[..time.min(track.len())])
                .collect();
            match progress(GenerationProgress { partial: &partial }) {
                Ok(()) => true,
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        })?;
        match (finished, failure) {
            (Some(audio), _) => Ok(audio),
            (None, Some(error)) => Err(error),
            (None, None) => anyhow::bail!("generation stopped without a reason"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelShape, RandomWeights};

    fn synthesizer() -> NsynthSynthesizer {
        let shape = ModelShape {
            filter_length: 3,
            encoder_width: 8,
            encoder_layers: 2,
            bottleneck_width: 16,
            decoder_width: 8,
            skip_width: 8,
            decoder_layers: 2,
            stages: Stages {
                encoder: 2,
                decoder: 2,
            },
        };
        let model = Model::load(&RandomWeights::new(shape.clone(), 3), shape.stages).unwrap();
        NsynthSynthesizer { model }
    }

    #[test]
    fn a_failed_checkpoint_stops_generation_with_its_error() {
        let synth = synthesizer();
        let embedding = Embedding::new(vec![0.1; 16 * 8]).unwrap();
        let job = GenerationJob {
            embedding,
            seed: 1,
            resume_from: Vec::new(),
        };
        let mut reports = 0;
        let error = synth
            .generate(&[job], &mut |_| {
                reports += 1;
                anyhow::bail!("disk full")
            })
            .unwrap_err();
        assert_eq!(error.to_string(), "disk full");
        assert_eq!(reports, 1);
    }

    #[test]
    fn resumed_jobs_keep_their_prefix_and_match_a_whole_run() {
        let synth = synthesizer();
        let embedding = Embedding::new((0..16 * 5).map(|i| (i as f32).sin()).collect()).unwrap();
        let job = |resume_from: Vec<f32>| GenerationJob {
            embedding: embedding.clone(),
            seed: 7,
            resume_from,
        };
        let mut partials = Vec::new();
        let whole = synth
            .generate(&[job(Vec::new())], &mut |report| {
                partials.push(report.partial[0].len());
                Ok(())
            })
            .unwrap();
        assert_eq!(partials, [REPORT_EVERY, 2560]);
        let resumed = synth
            .generate(&[job(whole[0][..1000].to_vec())], &mut |_| Ok(()))
            .unwrap();
        assert_eq!(resumed, whole);
    }
}
