//! Generation speed on the CPU, for `host-tools bench --device cpu` and the cost estimate made
//! before generating: the generator's steps timed for a batch of notes at a weight format on a
//! pool of threads ([`time_steps`]) or on several pools at once ([`time_side_by_side`]), and
//! the cores' FP32 peak estimated from a measured loop of independent fused multiply-adds
//! ([`Peak`]), beside the rate of AVX-512 BF16's dot products where the CPU has them (which the
//! kernels do not use where they are slower than the FMAs of widened weights), and the memory
//! a batch takes and the machine has. It measures and returns; it never prints.

use std::time::Instant;

use crate::cuda::bench::bytes_per_note;
use crate::model::{Generator, Model, WeightFormat};

/// Untimed steps before the timed ones: the first touch of the weights and histories.
const WARM_UP_STEPS: usize = 3;

/// Timed steps of one batch size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTiming {
    pub batch: usize,
    pub steps: usize,
    pub seconds: f64,
}

impl StepTiming {
    pub fn samples_per_second(&self) -> f64 {
        (self.batch * self.steps) as f64 / self.seconds
    }
}

/// Times `steps` steps (after a few untimed ones) of a generator for `batch` notes with its
/// weights in `weights`, on the threads of `pool` (rayon's global pool for `None`), as
/// generation runs them: conditioned on a fixed frame, each step's input derived from the last
/// step's logits.
pub fn time_steps(
    model: &Model,
    batch: usize,
    weights: WeightFormat,
    steps: usize,
    pool: Option<&rayon::ThreadPool>,
) -> anyhow::Result<StepTiming> {
    let mut generator = Generator::with_weights(model, batch, weights)?;
    let width = model.shape().bottleneck_width;
    let frame: Vec<f32> = (0..batch * width)
        .map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5)
        .collect();
    generator.set_conditioning(&frame)?;
    let mut previous = vec![0.0f32; batch];
    let mut run = |count: usize| -> anyhow::Result<()> {
        for _ in 0..count {
            let logits = generator.step(&previous)?;
            for (x, row) in previous.iter_mut().zip(logits.chunks_exact(256)) {
                *x = (row[0] * 0.01).tanh();
            }
        }
        Ok(())
    };
    // On a pool thread, as generation runs its steps.
    let timed = |_: &rayon::Scope<'_>| {
        run(WARM_UP_STEPS)?;
        let started = Instant::now();
        run(steps)?;
        anyhow::Ok(started.elapsed().as_secs_f64())
    };
    let seconds = match pool {
        None => rayon::scope(timed)?,
        Some(pool) => pool.scope(timed)?,
    };
    Ok(StepTiming {
        batch,
        steps,
        seconds,
    })
}

/// [`time_steps`] on each of `pools` at once, one generator each: what every group of threads
/// generates while the others do too (they share the memory bandwidth and the caches).
pub fn time_side_by_side(
    model: &Model,
    batch: usize,
    weights: WeightFormat,
    steps: usize,
    pools: &[rayon::ThreadPool],
) -> anyhow::Result<Vec<StepTiming>> {
    std::thread::scope(|scope| {
        let running: Vec<_> = pools
            .iter()
            .map(|pool| scope.spawn(move || time_steps(model, batch, weights, steps, Some(pool))))
            .collect();
        running
            .into_iter()
            .map(|thread| thread.join().expect("a timing thread panicked"))
            .collect()
    })
}

/// Bytes a generator for `batch` notes of `model` takes: its packed weights in `weights` and
/// each note's histories and activations.
pub fn batch_bytes(model: &Model, weights: WeightFormat, batch: usize) -> usize {
    let weight_bytes: usize = model
        .decoder
        .linears()
        .map(|linear| linear.weight.len() * weights.bytes())
        .sum();
    weight_bytes.saturating_add(batch.saturating_mul(bytes_per_note(model.shape(), 4)))
}

/// `bytes` in GiB, for messages.
pub fn gib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn available_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let kilobytes: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// The cores' FP32 peak as measured: one core's rate of independent fused multiply-adds at the
/// widest vectors it has, times the cores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// `AVX-512`, `AVX2` or `none`.
    pub vectors: &'static str,
    /// GFLOP/s of one core (an FMA counts 2 per lane).
    pub core_gflops: f64,
    pub cores: usize,
    /// GFLOP/s of one core's `vdpbf16ps` dot products of bfloat16 pairs (a multiply-add counts
    /// 2), where the CPU has AVX-512 BF16.
    pub bf16_dot_gflops: Option<f64>,
}

impl Peak {
    /// Measures one core (the best of five runs of about a tenth of a second each: other load
    /// only ever slows a run down); `None` where the CPU has no FMA vectors to measure.
    pub fn measure() -> Option<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let (vectors, core_gflops) = fma::best_rate()?;
        Some(Self {
            vectors,
            core_gflops,
            cores,
            bf16_dot_gflops: fma::bf16_dot_rate(),
        })
    }

    /// GFLOP/s of every core.
    pub fn gflops(&self) -> f64 {
        self.core_gflops * self.cores as f64
    }
}

#[cfg(target_arch = "x86_64")]
mod fma {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_storeu_ps, _mm512_add_ps,
        _mm512_cvtne2ps_pbh, _mm512_dpbf16_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps,
        _mm512_set1_ps,
    };
    use std::time::Instant;

    /// Rounds of 12 independent FMAs per run.
    const ROUNDS: usize = 20_000_000;

    /// The widest FMA rate of one core: `(name, GFLOP/s)`.
    pub fn best_rate() -> Option<(&'static str, f64)> {
        let (name, lanes, spin): (_, usize, fn(usize) -> f32) =
            if is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F was detected.
                ("AVX-512", 16, |rounds| unsafe { spin512(rounds) })
            } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                // SAFETY: AVX2 and FMA were detected.
                ("AVX2", 8, |rounds| unsafe { spin256(rounds) })
            } else {
                return None;
            };
        Some((
            name,
            (ROUNDS * 12 * lanes * 2) as f64 / best_seconds(spin) / 1e9,
        ))
    }

    /// One core's rate of `vdpbf16ps` (16 lanes × 2 multiply-adds each), if it has them.
    pub fn bf16_dot_rate() -> Option<f64> {
        if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")) {
            return None;
        }
        // SAFETY: AVX-512F and AVX-512 BF16 were detected.
        let seconds = best_seconds(|rounds| unsafe { spin_bf16(rounds) });
        Some((ROUNDS * 12 * 32 * 2) as f64 / seconds / 1e9)
    }

    /// The fastest of five runs of `spin` (other load only ever slows a run down).
    fn best_seconds(spin: impl Fn(usize) -> f32) -> f64 {
        (0..5)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(spin(std::hint::black_box(ROUNDS)));
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// Twelve independent chains of `$sum = $step`, each from `$zero`, `$rounds` times, summed
    /// with `$add`: enough in flight to keep both FMA units busy through their latency.
    macro_rules! chains {
        ($zero:expr, $rounds:expr, |$sum:ident| $step:expr, $add:path) => {{
            let mut sums = [$zero; 12];
            for _ in 0..$rounds {
                for $sum in &mut sums {
                    *$sum = $step;
                }
            }
            sums.iter().fold($zero, |a, &b| $add(a, b))
        }};
    }

    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn spin_bf16(rounds: usize) -> f32 {
        let one = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0), _mm512_set1_ps(1.0));
        let tiny = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-7), _mm512_set1_ps(1e-7));
        let total = chains!(
            _mm512_set1_ps(0.0),
            rounds,
            |sum| _mm512_dpbf16_ps(*sum, one, tiny),
            _mm512_add_ps
        );
        _mm512_reduce_add_ps(total)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn spin512(rounds: usize) -> f32 {
        let (scale, step) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let total = chains!(
            _mm512_set1_ps(0.0),
            rounds,
            |sum| _mm512_fmadd_ps(*sum, scale, step),
            _mm512_add_ps
        );
        _mm512_reduce_add_ps(total)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn spin256(rounds: usize) -> f32 {
        let (scale, step) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let total = chains!(
            _mm256_set1_ps(0.0),
            rounds,
            |sum| _mm256_fmadd_ps(*sum, scale, step),
            _mm256_add_ps
        );
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total) };
        lanes.iter().sum()
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod fma {
    pub fn best_rate() -> Option<(&'static str, f64)> {
        None
    }

    pub fn bf16_dot_rate() -> Option<f64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{tiny_shape, MapSource};

    #[test]
    fn steps_are_timed_on_the_pool_asked_for() {
        let model = Model::load(&MapSource::random(&tiny_shape(), 1), tiny_shape().stages).unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (weights, pool) in [(WeightFormat::F32, None), (WeightFormat::Bf16, Some(&one))] {
            let timing = time_steps(&model, 3, weights, 20, pool).unwrap();
            assert_eq!((timing.batch, timing.steps), (3, 20));
            assert!(timing.seconds > 0.0);
            assert_eq!(timing.samples_per_second(), 60.0 / timing.seconds);
        }
        assert!(time_steps(&model, 0, WeightFormat::F32, 1, None).is_err());
    }

    #[test]
    fn the_peak_is_every_core_at_the_measured_rate() {
        let peak = Peak {
            vectors: "AVX-512",
            core_gflops: 180.0,
            cores: 2,
            bf16_dot_gflops: None,
        };
        assert_eq!(peak.gflops(), 360.0);
    }
}
