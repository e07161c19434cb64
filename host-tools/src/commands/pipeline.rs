//! `host-tools pipeline`: the whole pad pipeline over a work folder, from the original's
//! settings file, and what the run did.

use std::path::Path;
use std::process::ExitCode;

use crate::pipeline::{self, PipelineConfig, PipelineOptions};
use crate::progress::Progress;
use crate::synth::Synthesizer;

/// Runs the pad pipeline with the settings file `config_path` in `workdir` (see
/// [`crate::pipeline`]) and says what it did, and whether other shards are still to run.
pub fn run(
    config_path: &Path,
    workdir: &Path,
    synth: &dyn Synthesizer,
    options: &PipelineOptions,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let config = PipelineConfig::from_file(config_path)?;
    let report = pipeline::run(&config, workdir, synth, options, progress)?;
    println!(
        "{} sounds: {} generated, {} cleaned; {} pads written to {}",
        report.sounds,
        report.generated,
        report.cleaned,
        report.pads_written,
        report.pads_dir.display()
    );
    if !report.complete {
        println!("other shards are still to run before every pad can be built");
    }
    Ok(ExitCode::SUCCESS)
}
