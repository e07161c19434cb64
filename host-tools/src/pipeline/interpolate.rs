//! Step 02 (spec §7.3): the embedding of every sound still to generate, mixed from the input
//! embeddings of its pad's corners with the sound's grid weights, and the generation task that
//! turns it into audio. Which sounds exist and their weights are [`grid`](super::grid)'s
//! business; nothing here encodes or generates.

use std::collections::HashMap;

use super::config::PipelineConfig;
use super::encode::Note;
use super::generate::GenerationTask;
use super::grid::{Plan, Sound};
use super::provenance::{verdict, write_record, Provenance, Verdict};
use super::workdir::Workdir;
use super::PipelineError;
use crate::embedding::Embedding;
use crate::npy::write_embedding;
use crate::synth::job_seed;

/// A sound of this run and the record of its generated and cleaned audio.
pub(super) struct SoundWork<'a> {
    pub sound: &'a Sound,
    pub record: Provenance,
}

/// The generation tasks of `sounds` whose cleaned audio cannot be reused, writing the
/// interpolated embedding of each whose generated audio cannot be reused either, unless its
/// record matches. `inputs` must hold every note the sounds mix (their records say they can be
/// made). Each sound's seed is `job_seed(seed, name)`.
pub(super) fn interpolate_sounds(
    config: &PipelineConfig,
    plan: &Plan,
    sounds: &[SoundWork<'_>],
    inputs: &HashMap<Note, Embedding>,
    dirs: &Workdir,
    seed: u64,
    force: bool,
) -> Result<Vec<GenerationTask>, PipelineError> {
    let mut tasks = Vec::new();
    for work in sounds {
        let sound = work.sound;
        if verdict(&dirs.cleaned(sound), &work.record, force) == Verdict::Reuse {
            continue;
        }
        let output = dirs.generated(sound);
        let embedding = dirs.sound_embedding(sound);
        if verdict(&output, &work.record, force).is_work() {
            let record = Provenance {
                seed: None,
                ..work.record.clone()
            };
            if verdict(&embedding, &record, force).is_work() {
                let midi = config.layout.pitches[sound.pitch];
                write_embedding(&embedding, &interpolate(plan, sound, midi, inputs))?;
                write_record(&embedding, &record)?;
            }
        }
        tasks.push(GenerationTask {
            name: sound.name.clone(),
            embedding,
            output,
            seed: job_seed(seed, &sound.name),
            provenance: work.record.clone(),
        });
    }
    Ok(tasks)
}

/// One sound at MIDI pitch `midi`: `Σ w_k · E_k` over the corners it mixes, summed in float64
/// in corner order and stored as float32, as the original computes it (the corners it weights
/// zero add nothing, so their recordings are not needed).
fn interpolate(
    plan: &Plan,
    sound: &Sound,
    midi: u8,
    inputs: &HashMap<Note, Embedding>,
) -> Embedding {
    let parts: Vec<(&Embedding, f64)> = plan
        .mix(sound)
        .map(|(name, weight)| (&inputs[&(name.clone(), midi)], weight))
        .collect();
    let values = (0..parts[0].0.values().len())
        .map(|i| {
            let mut sum = 0.0f64;
            for (part, weight) in &parts {
                sum += f64::from(part.values()[i]) * weight;
            }
            sum as f32
        })
        .collect();
    Embedding::new(values).expect("a mix of whole embeddings is whole")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::{config, INSTRUMENTS};

    #[test]
    fn interpolation_sums_in_float64_in_corner_order() {
        let config = config(1);
        let plan = Plan::new(&config);
        let mut inputs = HashMap::new();
        for (k, (name, _)) in INSTRUMENTS.iter().enumerate() {
            let values = vec![0.1f32 * (k + 1) as f32; 2 * crate::embedding::CHANNELS];
            inputs.insert((name.to_string(), 48), Embedding::new(values).unwrap());
        }
        let centre = &plan.sounds[plan.pads[0].rows[4 * 2]];
        let mixed = interpolate(&plan, centre, 48, &inputs);
        let expected = [0.1f32, 0.2, 0.3, 0.4]
            .iter()
            .fold(0.0f64, |sum, &v| sum + f64::from(v) * 0.25) as f32;
        assert_eq!(mixed.values()[0], expected);
        assert_eq!(mixed.frames(), 2);
    }
}
