//! The real [`Synthesizer`]: the NSynth model loaded from a checkpoint (TensorFlow or
//! safetensors), encoding and generating batches in lock-step with resumable, seed-determined
//! sampling, on the CPU (one batch per group of its threads at a time) or on GPUs (one batch
//! per GPU at a time). It adapts the model's calls
//! to the pipeline's seam and never touches a file after loading. The choice of CPU or GPUs is
//! a [`Backend`], matched only in its own methods; each back end makes the model's calls through
//! one trait, [`ModelCalls`].

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;

use super::{
    Batching, GenerationJob, GenerationProgress, MeasuredRate, ModelIdentity, Synthesizer,
};
use crate::checkpoint::Checkpoint;
use crate::cpu_bench::{available_memory, batch_bytes, gib, time_side_by_side, StepTiming};
use crate::cuda::bench::bytes_per_note;
use crate::cuda::{self, CudaDevice, Executor, GpuPool, GpuWorker, Placement, Precision};
use crate::embedding::Embedding;
use crate::lending::Lending;
use crate::model::{self, Decoding, GivenStages, Model, Note, WeightFormat};
use crate::progress::counted;

/// Samples between two progress reports of a batch: about a second of work at batch 64 on two
/// cores, often enough for a smooth bar and cheap next to the steps.
const REPORT_EVERY: usize = 2048;

/// Steps the CPU times to measure its generation speed (after a few untimed ones).
const CPU_CALIBRATION_STEPS: usize = 10;

/// Frames a GPU generates to measure its speed: two of its chunks, the first one untimed.
const GPU_CALIBRATION_FRAMES: usize = 2 * cuda::CHUNK / model::HOP_LENGTH;

/// How the CPU generates: the format of the decoder's weights, and the groups of threads that
/// each make one batch at a time (`None`: as many as the memory has room for, for batches of
/// `batch` notes, up to one per thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuChoice {
    pub weights: WeightFormat,
    pub groups: Option<usize>,
    pub batch: usize,
}

/// The NSynth autoencoder as a [`Synthesizer`].
pub struct NsynthSynthesizer {
    model: Model,
    backend: Backend,
    identity: ModelIdentity,
}

/// Where the model runs.
enum Backend {
    /// The CPU's threads: all of them for encoding, in groups for generating.
    Cpu(CpuGroups),
    /// These GPUs, each running one call at a time.
    Cuda(GpuPool<CudaDevice>),
}

impl Backend {
    /// Runs `call` on the CPU with all its threads, or on the first free GPU.
    fn run<T>(
        &self,
        model: &Model,
        call: impl FnOnce(&mut dyn ModelCalls) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match self {
            Backend::Cpu(cpu) => call(&mut CpuModel {
                model,
                decoding: cpu.decoding(None),
            }),
            Backend::Cuda(pool) => pool.with_worker(|worker| call(worker)),
        }
    }

    /// Runs a generation `call` on the first free group of the CPU's threads, or GPU.
    fn run_generation<T>(
        &self,
        model: &Model,
        call: impl FnOnce(&mut dyn ModelCalls) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match self {
            Backend::Cpu(cpu) => cpu.groups()?.with(|pool| {
                call(&mut CpuModel {
                    model,
                    decoding: cpu.decoding(Some(pool)),
                })
            }),
            Backend::Cuda(pool) => pool.with_worker(|worker| call(worker)),
        }
    }

    /// Batches worth generating at once: one per group of CPU threads, or per GPU.
    fn concurrency(&self) -> usize {
        match self {
            Backend::Cpu(cpu) => cpu.most,
            Backend::Cuda(pool) => pool.labels().len(),
        }
    }
}

/// How the CPU generates: the decoder's weights in `weights`, one batch per group of threads.
/// Groups scale with the cores where one batch's products shared by every thread would not
/// (each product's end is a wait for the slowest thread), at the cost of the memory of a batch
/// and a copy of the packed weights per group. The threads are split into as many groups as
/// batches run at once, so that none sits idle.
struct CpuGroups {
    weights: WeightFormat,
    /// Most groups at once (`--groups`, or what the memory holds), at most one per thread.
    most: usize,
    /// Batches the next run generates side by side (1 until told otherwise).
    at_once: AtomicUsize,
    /// The threads split for the last count of batches at once, kept while it stays the same.
    split: Mutex<Option<Arc<Lending<rayon::ThreadPool>>>>,
}

impl CpuGroups {
    /// Up to `groups` groups (at most one per thread) sharing the threads of rayon's global
    /// pool (`--threads`).
    fn new(weights: WeightFormat, groups: usize) -> Self {
        Self {
            weights,
            most: groups.clamp(1, rayon::current_num_threads()),
            at_once: AtomicUsize::new(1),
            split: Mutex::new(None),
        }
    }

    /// As many groups as `MemAvailable` has room for with half of it to spare, each generating
    /// `batch` notes of `model` with its own packed weights, up to one per thread.
    fn fitting(model: &Model, weights: WeightFormat, batch: usize) -> Self {
        let per_group = batch_bytes(model, weights, batch);
        let groups = available_memory().map_or(1, |bytes| bytes / 2 / per_group.max(1));
        Self::new(weights, groups)
    }

    /// The groups for the batches the next run has at once: every thread in one of them, the
    /// first groups a thread more where they do not divide evenly.
    fn groups(&self) -> anyhow::Result<Arc<Lending<rayon::ThreadPool>>> {
        let count = self.at_once.load(Ordering::Relaxed).clamp(1, self.most);
        let mut split = self.split.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(groups) = split.as_ref().filter(|groups| groups.count() == count) {
            return Ok(Arc::clone(groups));
        }
        let pools = thread_shares(rayon::current_num_threads(), count)
            .into_iter()
            .enumerate()
            .map(|(group, threads)| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(move |thread| format!("group {group} thread {thread}"))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .context("cannot start the CPU's threads")?;
        let groups = Arc::new(Lending::new(pools));
        *split = Some(Arc::clone(&groups));
        Ok(groups)
    }

    /// An error if a batch of `batch` notes of `model` needs more memory than is available,
    /// rather than the process being killed for it partway.
    fn check_room(&self, model: &Model, batch: usize) -> anyhow::Result<()> {
        let Some(available) = available_memory() else {
            return Ok(());
        };
        let needed = batch_bytes(model, self.weights, batch);
        if needed <= available {
            return Ok(());
        }
        let per_note = bytes_per_note(model.shape(), 4);
        let weights = batch_bytes(model, self.weights, 0);
        anyhow::bail!(
            "a batch of {batch} notes needs about {:.1} GiB on the CPU ({:.1} MB per note and \
             {:.0} MB of packed weights), and {:.1} GiB is available: use --batch {} or less",
            gib(needed),
            per_note as f64 / 1e6,
            weights as f64 / 1e6,
            gib(available),
            available.saturating_sub(weights) / per_note.max(1)
        )
    }

    /// How generation on `threads` (rayon's global pool for `None`) decodes.
    fn decoding<'p>(&self, threads: Option<&'p rayon::ThreadPool>) -> Decoding<'p> {
        Decoding {
            weights: self.weights,
            threads,
        }
    }

    /// `the CPU (2 groups of 1 thread, f32 weights)`, or with one batch at a time `the CPU (2
    /// threads, f32 weights)`.
    fn label(&self) -> String {
        let total = rayon::current_num_threads();
        let count = self.at_once.load(Ordering::Relaxed).clamp(1, self.most);
        let threads = match thread_shares(total, count).as_slice() {
            [one] => counted(*one, "thread"),
            [most, .., least] if most != least => {
                format!("{count} groups of {least} or {most} threads")
            }
            shares => format!("{count} groups of {}", counted(shares[0], "thread")),
        };
        format!("the CPU ({threads}, {} weights)", self.weights.name())
    }
}

/// `total` threads shared by `groups` groups as evenly as they go, the larger shares first.
fn thread_shares(total: usize, groups: usize) -> Vec<usize> {
    (0..groups)
        .map(|group| total / groups + usize::from(group < total % groups))
        .collect()
}

/// The model's calls as one back end makes them.
trait ModelCalls {
    /// The embedding values `[frames, 16]` of `audio`.
    fn encode(&mut self, audio: &[f32]) -> anyhow::Result<Vec<f32>>;

    /// Teacher-forced logits `[samples, 256]`.
    fn teacher_forced_logits(
        &mut self,
        audio: &[f32],
        embedding: &[f32],
    ) -> anyhow::Result<Vec<f32>>;

    /// Generates `notes`, reporting with `on_progress` (samples made, audio so far), which
    /// stops generation (`None`) by returning false.
    fn generate(
        &mut self,
        notes: &[Note<'_>],
        on_progress: &mut dyn FnMut(usize, &[Vec<f32>]) -> bool,
    ) -> anyhow::Result<Option<Vec<Vec<f32>>>>;
}

/// The model on the CPU.
struct CpuModel<'a> {
    model: &'a Model,
    decoding: Decoding<'a>,
}

impl ModelCalls for CpuModel<'_> {
    fn encode(&mut self, audio: &[f32]) -> anyhow::Result<Vec<f32>> {
        Ok(self.model.encode(audio)?.data)
    }

    fn teacher_forced_logits(
        &mut self,
        audio: &[f32],
        embedding: &[f32],
    ) -> anyhow::Result<Vec<f32>> {
        Ok(self.model.teacher_forced_logits(audio, embedding)?.data)
    }

    fn generate(
        &mut self,
        notes: &[Note<'_>],
        on_progress: &mut dyn FnMut(usize, &[Vec<f32>]) -> bool,
    ) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        Ok(model::generate_with(
            self.model,
            self.decoding,
            notes,
            REPORT_EVERY,
            on_progress,
        )?)
    }
}

impl<E: Executor> ModelCalls for GpuWorker<E> {
    fn encode(&mut self, audio: &[f32]) -> anyhow::Result<Vec<f32>> {
        Ok(self.encoder.encode(&mut self.executor, audio)?)
    }

    fn teacher_forced_logits(
        &mut self,
        audio: &[f32],
        embedding: &[f32],
    ) -> anyhow::Result<Vec<f32>> {
        Ok(cuda::teacher_forced_logits(
            &mut self.executor,
            &self.decoder,
            audio,
            embedding,
        )?)
    }

    fn generate(
        &mut self,
        notes: &[Note<'_>],
        on_progress: &mut dyn FnMut(usize, &[Vec<f32>]) -> bool,
    ) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        Ok(cuda::generate(
            &mut self.executor,
            &self.decoder,
            notes,
            on_progress,
        )?)
    }
}

impl NsynthSynthesizer {
    /// Loads the model from the checkpoint at `path` (a TensorFlow checkpoint prefix or
    /// `.index` file, or a `.safetensors` file), with the dilation cycles its layer counts
    /// leave open given in `stages` (none for the released model), to run on the CPU.
    pub fn open(path: &Path, stages: GivenStages) -> anyhow::Result<Self> {
        let cpu = CpuChoice {
            weights: WeightFormat::F32,
            groups: Some(1),
            batch: 1,
        };
        Self::open_on(path, stages, &Placement::Cpu, Precision::default(), cpu)
    }

    /// As [`open`](Self::open), then puts the model where `placement` says: on GPUs computing
    /// at `precision`, or on the CPU as `cpu` says.
    pub fn open_on(
        path: &Path,
        stages: GivenStages,
        placement: &Placement,
        precision: Precision,
        cpu: CpuChoice,
    ) -> anyhow::Result<Self> {
        if let Placement::Cuda(ordinals) = placement {
            // Before reading a large checkpoint, find out whether the GPUs are usable at all.
            cuda::check_libraries(&format!("cuda:{}", ordinals[0]))?;
        }
        let checkpoint = Checkpoint::open(path)?;
        let model = Model::load(&checkpoint, stages)
            .with_context(|| format!("cannot load the NSynth model from {}", path.display()))?;
        let identity = ModelIdentity::of_checkpoint(&checkpoint, model.shape().stages)?;
        let (backend, identity) = match placement {
            Placement::Cuda(ordinals) => {
                let pool = GpuPool::open(&model, ordinals, precision)?;
                tracing::info!("generating on {}", pool.labels().join(", "));
                (Backend::Cuda(pool), identity)
            }
            Placement::Cpu => {
                // Refused here rather than at the first batch, after the encoding.
                model::Generator::check_weights(&model, cpu.weights)?;
                let groups = match cpu.groups {
                    Some(groups) => CpuGroups::new(cpu.weights, groups),
                    None => CpuGroups::fitting(&model, cpu.weights, cpu.batch),
                };
                (Backend::Cpu(groups), identity.with_weights(cpu.weights))
            }
        };
        Ok(Self {
            model,
            backend,
            identity,
        })
    }

    /// Teacher-forced logits `[samples, 256]` of `audio` conditioned on `embedding`, on the
    /// first free GPU or on the CPU.
    pub fn teacher_forced_logits(
        &self,
        audio: &[f32],
        embedding: &[f32],
    ) -> anyhow::Result<Vec<f32>> {
        self.backend.run(&self.model, |calls| {
            calls.teacher_forced_logits(audio, embedding)
        })
    }
}

impl Synthesizer for NsynthSynthesizer {
    fn identity(&self) -> ModelIdentity {
        self.identity.clone()
    }

    fn encode(&self, audio: &[f32]) -> anyhow::Result<Embedding> {
        let values = self.backend.run(&self.model, |calls| calls.encode(audio))?;
        Embedding::new(values).context("the encoder made no frames")
    }

    fn concurrency(&self) -> usize {
        self.backend.concurrency()
    }

    /// On the CPU, batches stay whole: smaller ones side by side made fewer samples per second
    /// than one batch on every thread (32 notes on two cores: 1193 samples/s as two batches of
    /// 16, 1533 as one batch of 32).
    fn batching(&self, notes: usize, batch_size: usize) -> Batching {
        match self.backend {
            Backend::Cpu(_) => Batching::whole(notes, batch_size, self.concurrency()),
            Backend::Cuda(_) => Batching::spread(notes, batch_size, self.concurrency()),
        }
    }

    fn expect_batches_at_once(&self, batches: usize) {
        if let Backend::Cpu(cpu) = &self.backend {
            cpu.at_once.store(batches, Ordering::Relaxed);
        }
    }

    fn generation_rate(&self, batch: usize) -> anyhow::Result<Option<MeasuredRate>> {
        let rate = match &self.backend {
            Backend::Cpu(cpu) => {
                cpu.check_room(&self.model, batch)?;
                // Every group that will generate at once, side by side: they share the memory
                // bandwidth (full-size model, bf16, batches of one note: one group timed alone
                // estimated 50 s for a run that took 68 s).
                let timings = cpu.groups()?.with_all(|pools| {
                    time_side_by_side(
                        &self.model,
                        batch,
                        cpu.weights,
                        CPU_CALIBRATION_STEPS,
                        pools,
                    )
                })?;
                let rates = timings.iter().map(StepTiming::samples_per_second);
                MeasuredRate {
                    samples_per_second: rates.sum::<f64>() / timings.len() as f64,
                    samples: timings
                        .iter()
                        .map(|timing| timing.batch * timing.steps)
                        .sum(),
                    device: cpu.label(),
                }
            }
            Backend::Cuda(pool) => {
                let (samples_per_second, samples) =
                    pool.with_worker(|worker| timed_generation(worker, &self.model, batch))?;
                MeasuredRate {
                    samples_per_second,
                    samples,
                    device: pool.labels().join(", "),
                }
            }
        };
        Ok(Some(rate))
    }

    fn generate(
        &self,
        jobs: &[GenerationJob],
        progress: &mut dyn FnMut(GenerationProgress<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let notes: Vec<Note<'_>> = jobs
            .iter()
            .map(|job| Note {
                embedding: job.embedding.values(),
                seed: job.seed,
                prefix: &job.resume_from,
            })
            .collect();
        let mut failure = None;
        let mut on_progress = |time: usize, audio: &[Vec<f32>]| {
            let partial: Vec<&[f32]> = audio
                .iter()
                .map(|track| &track[..time.min(track.len())])
                .collect();
            match progress(GenerationProgress { partial: &partial }) {
                Ok(()) => true,
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        };
        if let Backend::Cpu(cpu) = &self.backend {
            cpu.check_room(&self.model, jobs.len())?;
        }
        let finished = self.backend.run_generation(&self.model, |calls| {
            calls.generate(&notes, &mut on_progress)
        })?;
        match (finished, failure) {
            (Some(audio), _) => Ok(audio),
            (None, Some(error)) => Err(error),
            (None, None) => anyhow::bail!("generation stopped without a reason"),
        }
    }
}

/// Samples per second of `batch` notes generated through `calls`, and the samples it was
/// measured on: between the first progress report (after the set-up and a first chunk) and the
/// end.
fn timed_generation(
    calls: &mut dyn ModelCalls,
    model: &Model,
    batch: usize,
) -> anyhow::Result<(f64, usize)> {
    let embedding = vec![0.0; GPU_CALIBRATION_FRAMES * model.shape().bottleneck_width];
    let notes: Vec<Note<'_>> = (0..batch as u64)
        .map(|seed| Note {
            embedding: &embedding,
            seed,
            prefix: &[],
        })
        .collect();
    let mut reports: Vec<(std::time::Instant, usize)> = Vec::new();
    calls.generate(&notes, &mut |time, _| {
        reports.push((std::time::Instant::now(), time));
        true
    })?;
    let (Some(&(started, from)), Some(&(ended, to))) = (reports.first(), reports.last()) else {
        anyhow::bail!("generation reported no progress to time");
    };
    anyhow::ensure!(to > from, "generation reported its progress only once");
    let samples = batch * (to - from);
    Ok((samples as f64 / (ended - started).as_secs_f64(), samples))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelShape, RandomWeights, Stages};

    fn synthesizer() -> NsynthSynthesizer {
        let shape = ModelShape {
            filter_length: 3,
            encoder_width: 8,
            encoder_layers: 2,
            bottleneck_width: 16,
            decoder_width: 8,
            skip_width: 8,
            decoder_layers: 2,
            stages: Stages {
                encoder: 2,
                decoder: 2,
            },
        };
        let model = Model::load(&RandomWeights::new(shape.clone(), 3), shape.stages).unwrap();
        NsynthSynthesizer {
            model,
            backend: Backend::Cpu(CpuGroups::new(WeightFormat::F32, 1)),
            identity: ModelIdentity::Tone,
        }
    }

    #[test]
    fn generation_is_timed_from_its_first_report_to_its_end() {
        let synth = synthesizer();
        let mut calls = CpuModel {
            model: &synth.model,
            decoding: Decoding {
                weights: WeightFormat::Bf16,
                threads: None,
            },
        };
        let (rate, samples) = timed_generation(&mut calls, &synth.model, 3).unwrap();
        // Reports every 2048 samples of 8192: timed from the first to the last.
        assert_eq!(samples, 3 * (GPU_CALIBRATION_FRAMES * 512 - REPORT_EVERY));
        assert!(rate > 0.0);
        let measured = synth.generation_rate(4).unwrap().unwrap();
        assert_eq!(measured.samples, 4 * CPU_CALIBRATION_STEPS);
        assert!(
            measured.device.starts_with("the CPU (") && measured.device.ends_with(", f32 weights)"),
            "{}",
            measured.device
        );
    }

    #[test]
    fn the_threads_are_split_into_a_group_per_batch_at_once() {
        // Five threads, up to four groups, whatever the machine has.
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(5)
            .build()
            .unwrap();
        threads.install(|| {
            let mut synth = synthesizer();
            synth.backend = Backend::Cpu(CpuGroups::new(WeightFormat::F32, 4));
            assert_eq!(synth.concurrency(), 4);
            // Timed as the run will go: each group that will generate at once, side by side.
            let measure = |groups: usize| {
                let measured = synth.generation_rate(2).unwrap().unwrap();
                assert_eq!(measured.samples, groups * 2 * CPU_CALIBRATION_STEPS);
                measured.device
            };
            // Until told otherwise (`grains`, one batch), one batch on every thread.
            assert_eq!(measure(1), "the CPU (5 threads, f32 weights)");
            let declared = |batches: usize, groups: usize| {
                synth.expect_batches_at_once(batches);
                measure(groups)
            };
            assert_eq!(declared(1, 1), "the CPU (5 threads, f32 weights)");
            assert_eq!(
                declared(2, 2),
                "the CPU (2 groups of 2 or 3 threads, f32 weights)"
            );
            assert_eq!(
                declared(4, 4),
                "the CPU (4 groups of 1 or 2 threads, f32 weights)"
            );
            assert_eq!(declared(9, 4), declared(4, 4));
        });
        assert_eq!(thread_shares(16, 3), [6, 5, 5]);
        assert_eq!(thread_shares(2, 2), [1, 1]);
        assert_eq!(thread_shares(5, 1), [5]);
    }

    #[test]
    fn a_batch_larger_than_the_memory_is_refused_before_it_starts() {
        let synth = synthesizer();
        let Backend::Cpu(cpu) = &synth.backend else {
            unreachable!()
        };
        assert!(cpu.check_room(&synth.model, 64).is_ok());
        let error = cpu
            .check_room(&synth.model, usize::MAX / 4)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("a batch of {} notes needs about ", usize::MAX / 4))
                && error.contains("is available: use --batch "),
            "{error}"
        );
    }

    #[test]
    fn a_failed_checkpoint_stops_generation_with_its_error() {
        let synth = synthesizer();
        let embedding = Embedding::new(vec![0.1; 16 * 8]).unwrap();
        let job = GenerationJob {
            embedding,
            seed: 1,
            resume_from: Vec::new(),
        };
        let mut reports = 0;
        let error = synth
            .generate(&[job], &mut |_| {
                reports += 1;
                anyhow::bail!("disk full")
            })
            .unwrap_err();
        assert_eq!(error.to_string(), "disk full");
        assert_eq!(reports, 1);
    }

    #[test]
    fn resumed_jobs_keep_their_prefix_and_match_a_whole_run() {
        let synth = synthesizer();
        let embedding = Embedding::new((0..16 * 5).map(|i| (i as f32).sin()).collect()).unwrap();
        let job = |resume_from: Vec<f32>| GenerationJob {
            embedding: embedding.clone(),
            seed: 7,
            resume_from,
        };
        let mut partials = Vec::new();
        let whole = synth
            .generate(&[job(Vec::new())], &mut |report| {
                partials.push(report.partial[0].len());
                Ok(())
            })
            .unwrap();
        assert_eq!(partials, [REPORT_EVERY, 2560]);
        let resumed = synth
            .generate(&[job(whole[0][..1000].to_vec())], &mut |_| Ok(()))
            .unwrap();
        assert_eq!(resumed, whole);
    }
}
