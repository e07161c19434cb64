//! `host-tools grains`: a grain cloud between two recordings, interpolated in embedding space
//! as py-modular's NSynth tutorial makes one, saved as a float32 `[count, grain_length]` array.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, ensure, Context as _};

use crate::audio::read_mono_16k;
use crate::cpu_bench::{available_memory, gib};
use crate::embedding::{Embedding, HOP_LENGTH};
use crate::npy::write_f32_array;
use crate::pipeline::encode_audio;
use crate::progress::Progress;
use crate::synth::{job_seed, GenerationJob, Synthesizer};

/// The shape of a grain cloud; the defaults are the tutorial's (128 grains of 1024 samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrainOptions {
    /// Grains in the cloud.
    pub count: usize,
    /// Samples per grain at 16 kHz, a whole number of 512-sample frames.
    pub grain_length: usize,
    /// Seed of the run; grain `i` is seeded with `job_seed(seed, "grain<i>")`.
    pub seed: u64,
}

/// A grain cloud as py-modular's NSynth tutorial makes one (`create_grains`,
/// `interpolate_grains`, `generate_grains`, `save_grain_cloud`), from two recordings:
///
/// * a grain is the first `grain_length` samples (16 kHz) of a recording, encoded; the length
///   must be a whole number of 512-sample frames (the tutorial's minimum is 512);
/// * grain `i` of `count` is `a · (i / count) + b · (1 − i / count)` in embedding space, in
///   float32 as NumPy computes it: the cloud starts at pure `b` and moves toward `a` without
///   reaching it, exactly as the tutorial's `interpolate_grains`;
/// * all grains are decoded in one batch and saved with `np.save`'s layout as a float32
///   `[count, grain_length]` array in `out_npy`.
pub fn run(
    synth: &dyn Synthesizer,
    a_wav: &Path,
    b_wav: &Path,
    options: &GrainOptions,
    out_npy: &Path,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let GrainOptions {
        count,
        grain_length,
        seed,
    } = *options;
    ensure!(count > 0, "a grain cloud needs at least one grain");
    ensure!(
        grain_length >= HOP_LENGTH && grain_length % HOP_LENGTH == 0,
        "grain length {grain_length} is not a whole number of {HOP_LENGTH}-sample frames \
         (e.g. 1024, 2048, 4096)"
    );
    // The cloud is generated and written whole: refused before anything is made, rather than
    // the process being killed for it partway.
    let cloud_bytes = count.saturating_mul(grain_length).saturating_mul(4);
    if let Some(available) = available_memory() {
        ensure!(
            cloud_bytes.saturating_mul(2) <= available,
            "{count} grains of {grain_length} samples are {:.1} GiB of audio, held twice while \
             written, and {:.1} GiB is available: use --count {} or less",
            gib(cloud_bytes),
            gib(available),
            available / 2 / (grain_length * 4)
        );
    }
    let grain_of = |path: &Path| -> anyhow::Result<Embedding> {
        let audio = read_mono_16k(path)?;
        if audio.len() < grain_length {
            bail!(
                "{} has {} samples at 16 kHz, fewer than one grain of {grain_length}",
                path.display(),
                audio.len()
            );
        }
        Ok(encode_audio(synth, path, &audio[..grain_length])?)
    };
    let (a, b) = (grain_of(a_wav)?, grain_of(b_wav)?);
    let jobs: Vec<GenerationJob> = (0..count)
        .map(|i| {
            let weight_a = i as f64 / count as f64;
            let (wa, wb) = (weight_a as f32, (1.0 - weight_a) as f32);
            let values = a
                .values()
                .iter()
                .zip(b.values())
                .map(|(&va, &vb)| va * wa + vb * wb)
                .collect();
            GenerationJob {
                embedding: Embedding::new(values).expect("a mix of whole embeddings is whole"),
                seed: job_seed(seed, &format!("grain{i}")),
                resume_from: Vec::new(),
            }
        })
        .collect();
    let bar = progress.bar("grains", (count * grain_length) as u64, "samples");
    let audio = synth
        .generate(&jobs, &mut |report| {
            bar.set_position(report.partial.iter().map(|p| p.len() as u64).sum());
            Ok(())
        })
        .context("the model failed to generate the grains")?;
    bar.finish_and_clear();
    ensure!(
        audio.len() == count && audio.iter().all(|grain| grain.len() == grain_length),
        "the model returned grains of the wrong number or length"
    );
    let values: Vec<f32> = audio.concat();
    write_f32_array(out_npy, &[count, grain_length], &values)?;
    println!("wrote {} ([{count}, {grain_length}])", out_npy.display());
    Ok(ExitCode::SUCCESS)
}
