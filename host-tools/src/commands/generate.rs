//! `host-tools generate`: audio from embedding files (one, or a folder of them), all of them or
//! one shard, by the pipeline's generation step, each output recorded with the embedding's
//! digest, the model and the seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::{create_dir, estimate, inputs};
use crate::digest::file_digest;
use crate::pipeline::provenance::Provenance;
use crate::pipeline::{self, GenerateOptions, GenerationTask, Shard};
use crate::progress::Progress;
use crate::synth::{job_seed, ModelIdentity, Synthesizer};

/// Prints the cost, then (unless `estimate_only`) generates and says how many files it made
/// and reused.
#[allow(clippy::too_many_arguments)]
pub fn run(
    synth: &dyn Synthesizer,
    embeddings: &Path,
    out_dir: &Path,
    options: &GenerateOptions,
    seed: u64,
    shard: Option<Shard>,
    estimate_only: bool,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let tasks = tasks(embeddings, out_dir, seed, shard, &synth.identity())?;
    let cost = pipeline::tasks_cost(&tasks, options.force)?;
    let expected_rate = estimate::print(synth, &cost, options.batch_size)?;
    if estimate_only {
        return Ok(ExitCode::SUCCESS);
    }
    create_dir(out_dir)?;
    let options = GenerateOptions {
        expected_rate,
        ..*options
    };
    let report = pipeline::generate(synth, &tasks, &options, progress)?;
    if !report.restarted.is_empty() {
        println!(
            "{} partly generated files started over: their checkpoints were made from other \
             inputs",
            report.restarted.len()
        );
    }
    let made = format!("files into {}", out_dir.display());
    println!("generated {}", report.tally.describe(&made));
    Ok(ExitCode::SUCCESS)
}

/// The tasks that make `out_dir/gen_<stem>.wav` (spec §4.6) from one embedding file or every
/// `.npy` of a folder in path order. Each file makes `frames × 512` samples
/// (its own length, not Magenta's padding to `sample_length` frames), and the generation step
/// reuses finished WAVs made from the same embedding, model and seed, and continues interrupted
/// ones from their checkpoints. With a `shard`, only the files whose place `i` in that path
/// order the shard owns (`i mod N = K`); a file's audio depends only on its name and the seed,
/// so shards sharing `out_dir` make what one run would.
pub(super) fn tasks(
    embeddings: &Path,
    out_dir: &Path,
    seed: u64,
    shard: Option<Shard>,
    model: &ModelIdentity,
) -> anyhow::Result<Vec<GenerationTask>> {
    let sources = inputs(embeddings, &["npy"], ".npy embeddings")?;
    let total = sources.len();
    let mine: Vec<PathBuf> = sources
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| shard.is_none_or(|shard| shard.owns(i)))
        .map(|(_, source)| source)
        .collect();
    if let Some(shard) = shard {
        tracing::info!("shard {shard}: {} of {total} embedding files", mine.len());
    }
    mine.into_iter()
        .map(|embedding| {
            let unusable = || format!("{} has no usable file name", embedding.display());
            let name = embedding
                .file_stem()
                .and_then(|s| s.to_str())
                .with_context(unusable)?
                .to_string();
            let file_name = embedding
                .file_name()
                .and_then(|s| s.to_str())
                .with_context(unusable)?
                .to_string();
            let digest = file_digest(&embedding)
                .with_context(|| format!("cannot read {}", embedding.display()))?;
            Ok(GenerationTask {
                output: out_dir.join(format!("gen_{name}.wav")),
                seed: job_seed(seed, &name),
                provenance: Provenance {
                    seed: Some(seed),
                    embeddings: BTreeMap::from([(file_name, digest)]),
                    ..Provenance::new(model.clone())
                },
                name,
                embedding,
            })
        })
        .collect()
}
