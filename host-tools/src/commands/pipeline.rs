//! `host-tools pipeline`: the whole pad pipeline over a work folder, from the original's
//! settings file, and what the run did: the recordings skipped and what they leave unmade,
//! where the pads are, and one final line of what was made, made again (and why) and reused.

use std::path::Path;
use std::process::ExitCode;

use super::encode::skipped;
use crate::pipeline::{self, PipelineConfig, PipelineOptions, PipelineReport};
use crate::progress::Progress;
use crate::synth::Synthesizer;

/// Prints the cost of the generation, then (unless `estimate_only`) runs the pad pipeline with
/// the settings file `config_path` in `workdir` (see [`crate::pipeline`]) and says what it did,
/// and whether other shards are still to run. Exits with [`super::encode::SKIPPED_STATUS`] when
/// recordings were skipped.
pub fn run(
    config_path: &Path,
    workdir: &Path,
    synth: &dyn Synthesizer,
    options: &PipelineOptions,
    estimate_only: bool,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let config = PipelineConfig::from_file(config_path)?;
    let cost = pipeline::pipeline_cost(&config, workdir, synth.identity(), options)?;
    let expected_rate = super::estimate::print(synth, &cost, options.generate.batch_size)?;
    if estimate_only {
        return Ok(ExitCode::SUCCESS);
    }
    let mut options = *options;
    options.generate.expected_rate = expected_rate;
    let report = pipeline::run(&config, workdir, synth, &options, progress)?;
    let status = skipped(&report.bad, report.recordings);
    if report.unmade_sounds > 0 {
        println!(
            "without them {} sounds and {} pads cannot be made: {}",
            report.unmade_sounds,
            report.unmade_pads.len(),
            report.unmade_pads.join(", ")
        );
    }
    if !report.generated.restarted.is_empty() {
        println!(
            "{} partly generated sounds started over: their checkpoints were made from other \
             inputs",
            report.generated.restarted.len()
        );
    }
    let kind = if report.dry_run {
        "dry run (sine tones, not NSynth): pads"
    } else {
        "pads"
    };
    println!(
        "{kind} and device settings in {}",
        report.pads_dir.display()
    );
    if report.waiting {
        println!("other shards are still to run before every pad can be built");
    }
    println!("{}", summary(&report));
    Ok(status)
}

/// `8 recordings: 1 encoded (1 redone: recordings changed), 7 reused; 18 sounds: …; 1 pads
/// written …`.
fn summary(report: &PipelineReport) -> String {
    let mut line = format!(
        "{} recordings: {}",
        report.recordings,
        report.encoded.describe("encoded")
    );
    if !report.bad.is_empty() {
        line.push_str(&format!(", {} skipped", report.bad.len()));
    }
    line.push_str(&format!(
        "; {} sounds: {}",
        report.sounds,
        report.generated.tally.describe("generated")
    ));
    if report.unmade_sounds > 0 {
        line.push_str(&format!(", {} cannot be made", report.unmade_sounds));
    }
    line.push_str(&format!(
        "; {}; {}",
        report.cleaned.describe("cleaned"),
        report.pads.describe("pads written")
    ));
    if !report.unmade_pads.is_empty() {
        line.push_str(&format!(", {} cannot be made", report.unmade_pads.len()));
    }
    line
}
