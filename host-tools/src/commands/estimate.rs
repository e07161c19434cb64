//! The cost printed before generating (`generate` and `pipeline`; with `--estimate`, all they
//! do): the notes and samples still to make, and the time that takes at the speed measured on
//! a few steps of the real model where it runs, at the run's batch size.

use crate::pipeline::GenerationCost;
use crate::progress::{counted, duration_text, rate_text};
use crate::synth::Synthesizer;

/// Prints what generating `cost` in batches of `batch_size` will take, and returns the speed
/// it measured (samples per second of the whole run) for the progress's time left.
pub fn print(
    synth: &dyn Synthesizer,
    cost: &GenerationCost,
    batch_size: usize,
) -> anyhow::Result<Option<f64>> {
    let made = match cost.reused {
        0 => String::new(),
        reused => format!(" ({reused} already made, kept)"),
    };
    if cost.notes() == 0 {
        println!("to generate: nothing{made}");
        return Ok(None);
    }
    println!(
        "to generate: {}, {} samples{made}",
        counted(cost.notes(), "note"),
        indicatif::HumanCount(cost.samples())
    );
    let batching = synth.batching(cost.notes(), batch_size);
    let rows = batching.size.min(cost.notes());
    let batches = batching.batches(cost.notes());
    let workers = batching.at_once;
    synth.expect_batches_at_once(workers);
    let Some(rate) = synth.generation_rate(rows)? else {
        println!("estimate: seconds (sine tones of a dry run)");
        return Ok(None);
    };
    let seconds_per_step = rows as f64 / rate.samples_per_second;
    let seconds = cost.seconds(rows, seconds_per_step, workers);
    println!(
        "estimate: about {} on {}, {} of up to {} ({} at batch {rows}, measured on {} samples)",
        duration_text(std::time::Duration::from_secs_f64(seconds.min(1e12))),
        rate.device,
        counted(batches, "batch"),
        counted(rows, "note"),
        rate_text(rate.samples_per_second, "samples"),
        rate.samples
    );
    Ok(Some(rate.samples_per_second * workers as f64))
}
