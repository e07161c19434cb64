//! Incremental generation speed of the full-size NSynth decoder (random weights, the released
//! model's shape) at batch 1, 16 and 64: samples per second, per core, achieved GFLOP/s and the
//! share of an estimated peak. Run with `cargo bench -p host-tools --bench generate`; pass
//! `-- <steps>` to change the number of timed steps per batch (default 200).

use std::time::Instant;

use host_tools::model::{Generator, Model, ModelShape, RandomWeights, MAGENTA_STAGES};

/// Multiply-adds per sample per note of Magenta's graph (spec §8), the customary figure.
const GRAPH_MACS_PER_SAMPLE: f64 = 59_741_696.0;

const WARM_UP_STEPS: usize = 5;

fn main() -> anyhow::Result<()> {
    let steps: usize = match std::env::args().nth(1).filter(|arg| arg != "--bench") {
        Some(arg) => arg.parse()?,
        None => 200,
    };
    let shape = ModelShape::magenta();
    let built = Instant::now();
    let model = Model::load(&RandomWeights::new(shape.clone(), 1), MAGENTA_STAGES)?;
    println!(
        "full-size model with random weights built in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let executed_macs = Generator::macs_per_step(&shape) as f64;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let peak = Peak::estimate(cores);
    println!(
        "threads: {} (rayon), cores: {cores}; peak estimate {:.0} GFLOP/s = {cores} cores × \
         {:.2} GHz × {} FLOP/cycle ({})",
        rayon::current_num_threads(),
        peak.gflops(),
        peak.ghz,
        peak.flop_per_cycle,
        peak.simd
    );
    println!(
        "FLOP per sample per note: 2 × {GRAPH_MACS_PER_SAMPLE} (Magenta's graph); this generator \
         executes 2 × {executed_macs}"
    );
    println!("shared machine: figures are noisy; compare runs on the same machine only\n");
    println!(
        "{:>5} {:>6} {:>9} {:>14} {:>13} {:>10} {:>10} {:>8}",
        "batch", "steps", "ms/step", "samples/s", "per core", "GFLOP/s", "executed", "of peak"
    );
    for batch in [1, 16, 64] {
        let mut generator = Generator::new(&model, batch)?;
        let frame: Vec<f32> = (0..batch * shape.bottleneck_width)
            .map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5)
            .collect();
        generator.set_conditioning(&frame)?;
        let mut previous: Vec<f32> = vec![0.0; batch];
        let mut run = |count: usize, generator: &mut Generator| -> anyhow::Result<()> {
            for _ in 0..count {
                let logits = generator.step(&previous)?;
                // Feed back something that depends on the logits so no step can be skipped.
                for (x, row) in previous.iter_mut().zip(logits.chunks_exact(256)) {
                    *x = (row[0] * 0.01).tanh();
                }
            }
            Ok(())
        };
        run(WARM_UP_STEPS, &mut generator)?;
        let started = Instant::now();
        run(steps, &mut generator)?;
        let seconds = started.elapsed().as_secs_f64();
        let samples_per_second = (batch * steps) as f64 / seconds;
        let gflops = 2.0 * GRAPH_MACS_PER_SAMPLE * samples_per_second / 1e9;
        let executed = 2.0 * executed_macs * samples_per_second / 1e9;
        println!(
            "{batch:>5} {steps:>6} {:>9.2} {samples_per_second:>14.1} {:>13.1} {gflops:>10.1} \
             {executed:>10.1} {:>7.1}%",
            1e3 * seconds / steps as f64,
            samples_per_second / cores as f64,
            100.0 * executed / peak.gflops()
        );
    }
    Ok(())
}

/// Theoretical single-precision peak: cores × clock × FLOP per cycle per core.
struct Peak {
    cores: usize,
    ghz: f64,
    flop_per_cycle: u32,
    simd: &'static str,
}

impl Peak {
    fn estimate(cores: usize) -> Self {
        // The clock as the kernel reports it (nominal on virtual machines; turbo is ignored).
        let ghz = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("cpu MHz"))
                    .and_then(|line| line.split(':').nth(1))
                    .and_then(|mhz| mhz.trim().parse::<f64>().ok())
            })
            .map_or(3.0, |mhz| mhz / 1000.0);
        // Two FMA pipes per core (Intel since Haswell, AMD since Zen 2 for 256-bit, Zen 5 at
        // 512-bit); an FMA counts as 2 FLOP per lane.
        let (flop_per_cycle, simd) = simd_width();
        Self {
            cores,
            ghz,
            flop_per_cycle,
            simd,
        }
    }

    fn gflops(&self) -> f64 {
        self.cores as f64 * self.ghz * f64::from(self.flop_per_cycle)
    }
}

#[cfg(target_arch = "x86_64")]
fn simd_width() -> (u32, &'static str) {
    if is_x86_feature_detected!("avx512f") {
        (64, "AVX-512: 2 FMA × 16 lanes × 2")
    } else if is_x86_feature_detected!("fma") {
        (32, "AVX2: 2 FMA × 8 lanes × 2")
    } else {
        (8, "SSE: 2 × 4 lanes, no FMA")
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn simd_width() -> (u32, &'static str) {
    (16, "assumed 2 FMA × 4 lanes × 2 (NEON)")
}
