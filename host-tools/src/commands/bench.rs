//! `host-tools bench`: NSynth generation measured with the released model's shape (random
//! weights) at each batch size, on a GPU by [`crate::cuda::bench`] or on the CPU's cores by
//! [`crate::cpu_bench`], and with a baseline script the PyTorch baseline's speed on the same
//! device and ours against it. On the CPU, both run in turns for several rounds and the
//! medians are compared; then the speed at each thread count shows how generation scales.

use std::path::Path;
use std::process::ExitCode;

use crate::baseline::{BaselineResult, BaselineRun};
use crate::cpu_bench::{available_memory, batch_bytes, gib, time_side_by_side, Peak, StepTiming};
use crate::cuda::bench::{batch_sizes, Benchmark};
use crate::cuda::{Placement, Precision};
use crate::model::{tile_kernel, Generator, Model, ModelShape, RandomWeights, WeightFormat};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions<'a> {
    /// `cpu` or `cuda:N`.
    pub device: &'a str,
    /// Batch sizes, as `--batches` gives them; `None` for the device's default.
    pub batches: Option<&'a str>,
    /// GPU: arithmetic, frames timed per batch size and the dense peak if known.
    pub precision: Precision,
    pub frames: usize,
    pub peak_tflops: Option<f64>,
    /// CPU: weight formats, timed steps per measurement, rounds, threads.
    pub weights: &'a [WeightFormat],
    pub steps: usize,
    pub rounds: usize,
    pub threads: Option<usize>,
    /// CPU: groups of threads generating a batch each (default: one per thread).
    pub groups: Option<usize>,
    /// The PyTorch baseline, run by `python`, and its timed steps per batch size.
    pub baseline: Option<&'a Path>,
    pub python: &'a Path,
    pub baseline_steps: usize,
}

pub fn run(options: &BenchOptions<'_>) -> anyhow::Result<ExitCode> {
    match Placement::parse(options.device, None).map_err(anyhow::Error::msg)? {
        Placement::Cpu => run_cpu(options),
        Placement::Cuda(ordinals) => run_gpu(options, ordinals[0]),
    }
}

/// On the GPU: frames of generation at each batch size, one line each as it is measured, then
/// the baseline on the same GPU.
fn run_gpu(options: &BenchOptions<'_>, ordinal: usize) -> anyhow::Result<ExitCode> {
    let (precision, frames) = (options.precision, options.frames.max(1));
    let batches = options.batches.unwrap_or("1,64,512,max");
    let mut benchmark = Benchmark::open(ordinal, precision, batches)?;
    let peak = options.peak_tflops.or_else(|| benchmark.peak_tflops());
    let (graph_macs, executed_macs) = benchmark.macs_per_sample();
    println!(
        "bench device={} precision={} model=h512_bo16 (random weights) frames={frames} \
         macs_per_sample={graph_macs} (executed {executed_macs})",
        benchmark.label(),
        precision.name(),
    );
    let mut measured = Vec::new();
    for (batch, result) in benchmark.measurements(frames) {
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
                    gib(m.memory_bytes)
                );
                measured.push((m.batch, m.samples_per_second()));
            }
            Err(error) => println!("bench batch={batch} failed: {error}"),
        }
    }
    if let Some(script) = options.baseline {
        let sizes = std::mem::take(&mut benchmark.batches);
        // The baseline needs the GPU's memory.
        drop(benchmark);
        let dtype = match precision {
            Precision::Bf16 => "bfloat16",
            Precision::Tf32 => "tf32",
            Precision::Fp32 => "float32",
        };
        let baseline = BaselineRun {
            python: options.python,
            script,
            device: format!("cuda:{ordinal}"),
            dtype,
            threads: None,
            steps: options.baseline_steps,
        }
        .run(&sizes)?;
        println!("{}", baseline.header);
        for (batch, ours) in measured {
            print_speedup(batch, "", ours, baseline.speed(batch));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// On the CPU: `rounds` rounds, each timing every batch size in every weight format, as one
/// batch on every thread and as one batch per group of threads at once, then the baseline's
/// float32 at every batch size; the medians side by side; then the largest batch in float32 on
/// 1, 2, 4, … threads.
fn run_cpu(options: &BenchOptions<'_>) -> anyhow::Result<ExitCode> {
    let batches = batch_sizes(options.batches.unwrap_or("1,16,64"), 0)
        .map_err(anyhow::Error::msg)
        .and_then(|batches| {
            anyhow::ensure!(
                batches.iter().all(|&batch| batch > 0),
                "--batches: on the CPU give sizes of at least 1 (`max` is for GPUs)"
            );
            Ok(batches)
        })?;
    anyhow::ensure!(options.steps > 0, "--steps must be at least 1");
    anyhow::ensure!(options.rounds > 0, "--rounds must be at least 1");
    anyhow::ensure!(!options.weights.is_empty(), "--weights names no format");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = options.threads.unwrap_or(cores).max(1);
    let shape = ModelShape::magenta();
    let model = Model::load(&RandomWeights::new(shape.clone(), 1), shape.stages)?;
    let largest = batches.iter().copied().max().unwrap_or(1);
    // At most one batch per thread (or core, for the scaling) at once.
    let at_once = threads.max(cores);
    let needed = at_once.saturating_mul(batch_bytes(&model, WeightFormat::F32, largest));
    if let Some(available) = available_memory().filter(|&available| needed > available) {
        anyhow::bail!(
            "--batches {largest}, {at_once} at once, needs about {:.1} GiB, and {:.1} GiB is \
             available: give smaller batch sizes",
            gib(needed),
            gib(available)
        );
    }
    let executed_macs = Generator::macs_per_step(&shape) as f64;
    println!(
        "bench device=cpu ({}) cores={cores} threads={threads} kernel={} model=h512_bo16 \
         (random weights) steps={} rounds={} macs_per_sample={} (executed {executed_macs})",
        cpu_description(),
        tile_kernel(),
        options.steps,
        options.rounds,
        Generator::graph_macs_per_step(&shape),
    );
    let peak = Peak::measure();
    if let Some(peak) = peak {
        println!(
            "peak: one core's {} FMA loop {:.0} GFLOP/s × {} cores = {:.0} GFLOP/s",
            peak.vectors,
            peak.core_gflops,
            peak.cores,
            peak.gflops()
        );
        if let Some(dot) = peak.bf16_dot_gflops {
            println!(
                "AVX-512 BF16: one core's vdpbf16ps loop {dot:.0} GFLOP/s; the kernels widen \
                 16-bit weights and use FMAs"
            );
        }
    }
    let baseline = options.baseline.map(|script| BaselineRun {
        python: options.python,
        script,
        device: "cpu".into(),
        dtype: "float32",
        threads: Some(threads),
        steps: options.baseline_steps,
    });
    // One batch on every thread, and (as `generate` runs) one batch per group of threads.
    let groups = options.groups.unwrap_or(threads).clamp(1, threads);
    let mut layouts = vec![("one_batch".to_string(), vec![threads_pool(threads)?])];
    if groups > 1 {
        let pools = (0..groups)
            .map(|_| threads_pool(threads / groups))
            .collect::<anyhow::Result<_>>()?;
        layouts.push((format!("{groups}_groups"), pools));
    }
    let mut ours: Vec<(usize, WeightFormat, &str, Vec<f64>)> = Vec::new();
    let mut theirs: Vec<BaselineResult> = Vec::new();
    for round in 1..=options.rounds {
        for &weights in options.weights {
            for &batch in &batches {
                for (layout, pools) in &layouts {
                    let rate = time_groups(&model, batch, weights, options.steps, pools)?;
                    println!(
                        "round={round} batch={batch} weights={} layout={layout} \
                         samples_per_second={rate:.1}",
                        weights.name(),
                    );
                    let key = (batch, weights, layout.as_str());
                    match ours.iter_mut().find(|(b, w, l, _)| (*b, *w, *l) == key) {
                        Some((_, _, _, rates)) => rates.push(rate),
                        None => ours.push((batch, weights, layout, vec![rate])),
                    }
                }
            }
        }
        if let Some(baseline) = &baseline {
            let result = baseline.run(&batches)?;
            for (batch, speed) in &result.speeds {
                println!("round={round} batch={batch} baseline samples_per_second={speed:.1}");
            }
            theirs.push(result);
        }
    }
    if let Some(first) = theirs.first() {
        println!("{}", first.header);
    }
    for (batch, weights, layout, rates) in &ours {
        let rate = median(rates.clone());
        let executed_gflops = 2.0 * executed_macs * rate / 1e9;
        let share = peak.map_or(String::new(), |peak| {
            format!(" of_peak={:.1}%", 100.0 * executed_gflops / peak.gflops())
        });
        println!(
            "bench batch={batch} weights={} layout={layout} samples_per_second={rate:.1} \
             gflops={executed_gflops:.1}{share} (median of {})",
            weights.name(),
            rates.len()
        );
        if baseline.is_some() {
            let speeds: Vec<f64> = theirs
                .iter()
                .filter_map(|result| result.speed(*batch))
                .collect();
            let speed = (!speeds.is_empty()).then(|| median(speeds));
            let label = format!(" weights={} layout={layout}", weights.name());
            print_speedup(*batch, &label, rate, speed);
        }
    }
    thread_scaling(&model, &batches, options, cores)?;
    Ok(ExitCode::SUCCESS)
}

/// How generation scales with the cores, for the largest batch in float32 on 1, 2, 4, …
/// threads up to `cores` (the median of the rounds each): one batch whose products the threads
/// share, and as many batches as threads, one thread each, at once (the CPU's groups of
/// `generate` and `pipeline`); with each count's rate per thread against one thread's.
fn thread_scaling(
    model: &Model,
    batches: &[usize],
    options: &BenchOptions<'_>,
    cores: usize,
) -> anyhow::Result<()> {
    let batch = batches.iter().copied().max().unwrap_or(1);
    let mut counts: Vec<usize> = std::iter::successors(Some(1), |n| Some(n * 2))
        .take_while(|&n| n < cores)
        .collect();
    counts.push(cores);
    let steps = options.steps;
    let mut single = None;
    for threads in counts {
        let shared = [threads_pool(threads)?];
        let groups: Vec<rayon::ThreadPool> = (0..threads)
            .map(|_| threads_pool(1))
            .collect::<Result<_, _>>()?;
        let (mut one_batch, mut batch_each) = (Vec::new(), Vec::new());
        for _ in 0..options.rounds {
            one_batch.push(time_groups(
                model,
                batch,
                WeightFormat::F32,
                steps,
                &shared,
            )?);
            batch_each.push(time_groups(
                model,
                batch,
                WeightFormat::F32,
                steps,
                &groups,
            )?);
        }
        for (kind, rates) in [("one_batch", one_batch), ("batch_per_thread", batch_each)] {
            let rate = median(rates);
            let per_thread = rate / threads as f64;
            let single = *single.get_or_insert(per_thread);
            println!(
                "threads={threads} {kind} batch={batch} weights=f32 \
                 samples_per_second={rate:.1} per_thread={per_thread:.1} of_one_thread={:.0}%",
                100.0 * per_thread / single
            );
        }
    }
    Ok(())
}

/// Samples per second of one batch of `batch` notes per pool, all pools at once.
fn time_groups(
    model: &Model,
    batch: usize,
    weights: WeightFormat,
    steps: usize,
    pools: &[rayon::ThreadPool],
) -> anyhow::Result<f64> {
    let timings = time_side_by_side(model, batch, weights, steps, pools)?;
    Ok(timings.iter().map(StepTiming::samples_per_second).sum())
}

/// A pool of `threads` threads.
fn threads_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?)
}

fn print_speedup(batch: usize, label: &str, ours: f64, baseline: Option<f64>) {
    match baseline {
        Some(speed) => println!(
            "speedup batch={batch}{label} ours={ours:.0} baseline={speed:.0} ratio={:.2}",
            ours / speed
        ),
        None => println!("speedup batch={batch}{label} baseline=none"),
    }
}

/// The middle value (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// The CPU's model name and the vector flags that matter here, from `/proc/cpuinfo`.
fn cpu_description() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_once(':'))
            .map(|(_, value)| value.trim().to_string())
    };
    let model = field("model name").unwrap_or_else(|| std::env::consts::ARCH.into());
    let flags = field("flags").unwrap_or_default();
    let wanted = [
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512_bf16",
        "avx512_fp16",
    ];
    let present: Vec<&str> = flags
        .split_whitespace()
        .filter(|flag| wanted.contains(flag))
        .collect();
    format!("{model}; {}", present.join(" "))
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians_take_the_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
