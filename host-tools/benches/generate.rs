//! Incremental generation speed of the full-size NSynth decoder (random weights, the released
//! model's shape) at batch 1, 16 and 64: samples per second, per core, achieved GFLOP/s and the
//! share of an estimated peak; then the encoder's time for one note. Run with `cargo bench -p host-tools --bench generate`; pass
//! `-- <steps>` to change the number of timed steps per batch (default 300).

use std::time::Instant;

use host_tools::model::{tile_kernel, Generator, Model, ModelShape, RandomWeights, Stages};

/// Multiply-adds per input sample of the encoder (spec §8).
const ENCODER_MACS_PER_SAMPLE: f64 = 1_968_512.0;

const WARM_UP_STEPS: usize = 5;

fn main() -> anyhow::Result<()> {
    let steps: usize = match std::env::args().nth(1).filter(|arg| arg != "--bench") {
        Some(arg) => arg.parse()?,
        None => 300,
    };
    let shape = ModelShape::magenta();
    let built = Instant::now();
    let model = Model::load(&RandomWeights::new(shape.clone(), 1), Stages::MAGENTA)?;
    println!(
        "full-size model with random weights built in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let executed_macs = Generator::macs_per_step(&shape) as f64;
    let graph_macs = Generator::graph_macs_per_step(&shape) as f64;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let nominal_ghz = nominal_ghz();
    let measured = measured_fma_gflops();
    // The clock under load, from the measured AVX2 rate of one core (2 FMA pipes × 8 lanes × 2
    // FLOP per cycle); the nominal clock where that cannot be measured.
    let ghz = measured.map_or(nominal_ghz, |gflops| gflops / 32.0);
    let (flop_per_cycle, simd) = simd_width();
    let peak = cores as f64 * ghz * f64::from(flop_per_cycle);
    let avx2_peak = cores as f64 * ghz * 32.0;
    println!(
        "threads: {} (rayon), cores: {cores}",
        rayon::current_num_threads()
    );
    if let Some(measured) = measured {
        println!(
            "measured AVX2 FMA rate of one core: {measured:.0} GFLOP/s → {ghz:.2} GHz under load \
             (nominal {nominal_ghz:.2} GHz)"
        );
    }
    println!(
        "peak estimate {peak:.0} GFLOP/s = {cores} cores × {ghz:.2} GHz × {flop_per_cycle} \
         FLOP/cycle ({simd}); the tile kernel is {} (HOST_TOOLS_KERNEL chooses); the AVX2 \
         peak is {avx2_peak:.0} GFLOP/s",
        tile_kernel()
    );
    println!(
        "FLOP per sample per note: 2 × {graph_macs} (Magenta's graph); this generator \
         executes 2 × {executed_macs}"
    );
    println!("shared machine: figures are noisy; compare runs on the same machine only\n");
    println!(
        "{:>5} {:>6} {:>9} {:>11} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "batch",
        "steps",
        "ms/step",
        "samples/s",
        "per core",
        "GFLOP/s",
        "executed",
        "of peak",
        "of AVX2"
    );
    for batch in [1, 16, 64] {
        let mut generator = Generator::new(&model, batch)?;
        let frame: Vec<f32> = (0..batch * shape.bottleneck_width)
            .map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5)
            .collect();
        generator.set_conditioning(&frame)?;
        let mut previous = vec![0.0f32; batch];
        let run = |count: usize, generator: &mut Generator, previous: &mut [f32]| {
            for _ in 0..count {
                let logits = generator.step(previous)?;
                // Feed back something that depends on the logits so no step can be skipped.
                for (x, row) in previous.iter_mut().zip(logits.chunks_exact(256)) {
                    *x = (row[0] * 0.01).tanh();
                }
            }
            anyhow::Ok(())
        };
        // On a pool thread, as `generate` runs its steps.
        let seconds = rayon::scope(|_| {
            run(WARM_UP_STEPS, &mut generator, &mut previous)?;
            let started = Instant::now();
            run(steps, &mut generator, &mut previous)?;
            anyhow::Ok(started.elapsed().as_secs_f64())
        })?;
        let samples_per_second = (batch * steps) as f64 / seconds;
        let gflops = 2.0 * graph_macs * samples_per_second / 1e9;
        let executed = 2.0 * executed_macs * samples_per_second / 1e9;
        println!(
            "{batch:>5} {steps:>6} {:>9.2} {samples_per_second:>11.1} {:>9.1} {gflops:>9.1} \
             {executed:>9.1} {:>7.1}% {:>7.1}%",
            1e3 * seconds / steps as f64,
            samples_per_second / cores as f64,
            100.0 * executed / peak,
            100.0 * executed / avx2_peak
        );
    }
    println!();
    let note: Vec<f32> = (0..64_000)
        .map(|t| 0.5 * (t as f32 * 0.0345).sin())
        .collect();
    let started = Instant::now();
    let embedding = model.encode(&note)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "encoder: one 4 s note (64 000 samples → {:?}) in {seconds:.2} s, {:.1} GFLOP/s",
        embedding.shape,
        2.0 * ENCODER_MACS_PER_SAMPLE * 64_000.0 / seconds / 1e9
    );
    Ok(())
}

/// The clock as the kernel reports it (nominal on virtual machines; turbo is not included).
fn nominal_ghz() -> f64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("cpu MHz"))
                .and_then(|line| line.split(':').nth(1))
                .and_then(|mhz| mhz.trim().parse::<f64>().ok())
        })
        .map_or(3.0, |mhz| mhz / 1000.0)
}

/// FLOP per cycle per core of the widest SIMD the CPU has, assuming two FMA pipes (Intel since
/// Haswell, AMD since Zen 2; 512 bits wide on Zen 5 and Intel server parts). An FMA counts as
/// 2 FLOP per lane.
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

/// FLOP/s of independent AVX2 FMAs on one core (best of five runs of about 0.1 s): what the tile
/// kernel could reach at best per core, and through it the clock the cores really run at.
#[cfg(target_arch = "x86_64")]
fn measured_fma_gflops() -> Option<f64> {
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn spin(rounds: usize) -> f32 {
        use std::arch::x86_64::*;
        let mut sums = [_mm256_set1_ps(0.0); 12];
        let scale = _mm256_set1_ps(0.999_999);
        let step = _mm256_set1_ps(1e-7);
        for _ in 0..rounds {
            for sum in &mut sums {
                *sum = _mm256_fmadd_ps(*sum, scale, step);
            }
        }
        let mut out = [0.0f32; 8];
        let total = sums
            .iter()
            .fold(_mm256_set1_ps(0.0), |a, &b| _mm256_add_ps(a, b));
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), total) };
        out.iter().sum()
    }

    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return None;
    }
    let rounds = 20_000_000;
    // One core at a time, best of five: other load on a shared machine only ever slows a run
    // down, and one free core is easier to find than all of them.
    let best = (0..5)
        .map(|_| {
            let started = Instant::now();
            // SAFETY: AVX2 and FMA were detected above.
            std::hint::black_box(unsafe { spin(rounds) });
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    Some((rounds * 12 * 8 * 2) as f64 / best / 1e9)
}

#[cfg(not(target_arch = "x86_64"))]
fn measured_fma_gflops() -> Option<f64> {
    None
}
