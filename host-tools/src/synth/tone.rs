//! A stand-in [`Synthesizer`] that needs no model: it encodes a recording as its zero-crossing
//! frequency and decodes an embedding as a sine at `1000 × mean(frame)` Hz. Interpolating
//! embeddings therefore interpolates frequencies, which makes a pad's layout audible and testable
//! (a dry run on the device before spending GPU hours). It is not NSynth and sounds nothing like
//! it; it never reads or writes files.

use std::f64::consts::TAU;

use super::{GenerationJob, GenerationProgress, ModelIdentity, Synthesizer};
use crate::audio::{zero_crossing_frequency, SAMPLE_RATE};
use crate::embedding::{Embedding, CHANNELS, HOP_LENGTH};

/// Peak level of the tones.
const LEVEL: f64 = 0.5;

/// Embedding value per hertz.
const VALUE_PER_HZ: f64 = 1.0 / 1000.0;

/// Sines instead of NSynth; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToneSynthesizer {
    /// Samples between progress reports.
    pub report_every: usize,
}

impl Default for ToneSynthesizer {
    fn default() -> Self {
        Self { report_every: 4096 }
    }
}

impl ToneSynthesizer {
    /// The tone an embedding decodes to, sample by sample; a pure function of the embedding.
    pub fn tone(embedding: &Embedding) -> Vec<f32> {
        let mut phase = 0.0f64;
        let mut samples = Vec::with_capacity(embedding.samples());
        for k in 0..embedding.frames() {
            let mean: f64 = embedding
                .frame(k)
                .iter()
                .map(|&v| f64::from(v))
                .sum::<f64>()
                / CHANNELS as f64;
            let step = TAU * mean / VALUE_PER_HZ / f64::from(SAMPLE_RATE);
            for _ in 0..HOP_LENGTH {
                samples.push((LEVEL * phase.sin()) as f32);
                phase = (phase + step) % TAU;
            }
        }
        samples
    }
}

impl Synthesizer for ToneSynthesizer {
    fn identity(&self) -> ModelIdentity {
        ModelIdentity::Tone
    }

    fn encode(&self, audio: &[f32]) -> anyhow::Result<Embedding> {
        let frames = audio.len() / HOP_LENGTH;
        anyhow::ensure!(
            frames > 0 && audio.len() == frames * HOP_LENGTH,
            "{} samples are not a whole number of {HOP_LENGTH}-sample frames",
            audio.len()
        );
        let value = (zero_crossing_frequency(audio) * VALUE_PER_HZ) as f32;
        Embedding::new(vec![value; frames * CHANNELS])
            .ok_or_else(|| anyhow::anyhow!("no frames to encode"))
    }

    fn generate(
        &self,
        jobs: &[GenerationJob],
        progress: &mut dyn FnMut(GenerationProgress<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let outputs: Vec<Vec<f32>> = jobs
            .iter()
            .map(|job| {
                let mut audio = Self::tone(&job.embedding);
                let kept = job.resume_from.len().min(audio.len());
                audio[..kept].copy_from_slice(&job.resume_from[..kept]);
                audio
            })
            .collect();
        let longest = outputs.iter().map(Vec::len).max().unwrap_or(0);
        let mut done = self.report_every.max(1);
        while done < longest {
            let partial: Vec<&[f32]> = outputs
                .iter()
                .zip(jobs)
                .map(|(audio, job)| &audio[..done.max(job.resume_from.len()).min(audio.len())])
                .collect();
            progress(GenerationProgress { partial: &partial })?;
            done += self.report_every.max(1);
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(frequency: f64, samples: usize) -> Vec<f32> {
        (0..samples)
            .map(|i| (0.3 * (TAU * frequency * i as f64 / 16000.0).sin()) as f32)
            .collect()
    }

    #[test]
    fn a_tone_round_trips_through_encode_and_generate() {
        let synth = ToneSynthesizer::default();
        let embedding = synth.encode(&sine(440.0, 8192)).unwrap();
        assert_eq!(embedding.frames(), 16);
        assert!((f64::from(embedding.values()[0]) - 0.44).abs() < 0.001);
        let job = GenerationJob {
            embedding,
            seed: 0,
            resume_from: Vec::new(),
        };
        let mut reports = 0;
        let out = synth
            .generate(&[job], &mut |_| {
                reports += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(out[0].len(), 8192);
        assert_eq!(reports, 1);
        assert!((zero_crossing_frequency(&out[0]) - 440.0).abs() < 2.0);
    }

    #[test]
    fn a_resumed_job_keeps_its_prefix_and_a_failing_report_stops_it() {
        let synth = ToneSynthesizer { report_every: 512 };
        let embedding = Embedding::new(vec![0.2; 4 * CHANNELS]).unwrap();
        let prefix = vec![0.125; 700];
        let job = GenerationJob {
            embedding: embedding.clone(),
            seed: 3,
            resume_from: prefix.clone(),
        };
        let mut lengths = Vec::new();
        let out = synth
            .generate(std::slice::from_ref(&job), &mut |p| {
                lengths.push(p.partial[0].len());
                Ok(())
            })
            .unwrap();
        assert_eq!(out[0][..700], prefix[..]);
        assert_eq!(out[0][700..], ToneSynthesizer::tone(&embedding)[700..]);
        assert_eq!(lengths, [700, 1024, 1536]);
        let error = synth
            .generate(&[job], &mut |_| anyhow::bail!("disk full"))
            .unwrap_err();
        assert_eq!(error.to_string(), "disk full");
    }
}
