//! `host-tools bench`: NSynth generation measured on a GPU at each batch size by
//! [`crate::cuda::bench`], one line each as it is measured, and with a baseline script the
//! PyTorch baseline's speed on the same GPU and ours against it.

use std::path::Path;
use std::process::ExitCode;

use crate::cuda::bench::{run_baseline, Benchmark};
use crate::cuda::{Placement, Precision};

/// Measures `frames` frames at each of `batches` on `device` at `precision` and prints the
/// figures: samples per second, notes per hour, TFLOP/s and their share of `peak_tflops` (or
/// the GPU's known peak), and device memory. Then runs `baseline` (`baseline_steps` steps per
/// batch size) and prints the speed-up at each batch size.
pub fn run(
    device: &str,
    precision: Precision,
    batches: &str,
    frames: usize,
    peak_tflops: Option<f64>,
    baseline: Option<&Path>,
    baseline_steps: usize,
) -> anyhow::Result<ExitCode> {
    let Placement::Cuda(ordinals) = Placement::parse(device, None).map_err(anyhow::Error::msg)?
    else {
        anyhow::bail!("--device {device}: the benchmark measures a GPU (cuda:N)");
    };
    let mut benchmark = Benchmark::open(ordinals[0], precision, batches)?;
    let peak = peak_tflops.or_else(|| benchmark.peak_tflops());
    let (graph_macs, executed_macs) = benchmark.macs_per_sample();
    println!(
        "bench device={} precision={} model=h512_bo16 (random weights) frames={frames} \
         macs_per_sample={graph_macs} (executed {executed_macs})",
        benchmark.label(),
        precision.name(),
    );
    let mut measured = Vec::new();
    for (batch, result) in benchmark.measurements(frames.max(1)) {
        match result {
            Ok(m) => {
                let share = peak.map_or(String::new(), |p| {
                    format!(" of_peak={:.1}%", 100.0 * m.tflops(graph_macs) / p)
                });
                println!(
                    "bench batch={batch} samples_per_second={:.0} notes_per_hour={:.1} \
                     ms_per_step={:.3} tflops={:.1}{share} memory_gib={:.1}",
                    m.samples_per_second(),
                    m.notes_per_hour(),
                    1000.0 * m.seconds / m.steps as f64,
                    m.tflops(graph_macs),
                    m.memory_bytes as f64 / f64::from(1u32 << 30)
                );
                measured.push(m);
            }
            Err(error) => println!("bench batch={batch} failed: {error}"),
        }
    }
    if let Some(script) = baseline {
        let sizes = std::mem::take(&mut benchmark.batches);
        // The baseline needs the GPU's memory.
        drop(benchmark);
        let (header, speeds) =
            run_baseline(script, ordinals[0], &sizes, baseline_steps, precision)?;
        println!("{header}");
        for m in &measured {
            match speeds.iter().find(|(batch, _)| *batch == m.batch) {
                Some((batch, speed)) => println!(
                    "speedup batch={batch} ours={:.0} baseline={speed:.0} ratio={:.1}",
                    m.samples_per_second(),
                    m.samples_per_second() / speed
                ),
                None => println!("speedup batch={} baseline=none", m.batch),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
