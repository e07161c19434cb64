//! Decoding embedding files to audio files with a [`Synthesizer`] (the original step 04 and the
//! `generate` command): batching, per-sound seeds, periodic checkpoints of the audio made so far
//! (`<output>.checkpoint`, a float WAV), resuming from them, and the finished WAVs (spec §4.6).
//! A finished output is never regenerated and every file is written atomically; the model itself
//! is behind the trait.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::audio::{read_mono_16k, write_float_wav, AudioError};
use crate::npy::{read_embedding, NpyError};
use crate::progress::{Bar, Progress};
use crate::synth::{GenerationJob, GenerationProgress, Synthesizer};

/// Suffix of a sound's checkpoint, appended to its output path.
pub const CHECKPOINT_SUFFIX: &str = ".checkpoint";

/// One sound to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationTask {
    /// Name for messages.
    pub name: String,
    /// Its embedding (`.npy`).
    pub embedding: PathBuf,
    /// Where the finished audio goes (a WAV).
    pub output: PathBuf,
    /// Its sampling seed.
    pub seed: u64,
}

/// How generation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Sounds per call to the model.
    pub batch_size: usize,
    /// Least time between two checkpoints of a batch (zero: at every progress report).
    pub checkpoint_interval: Duration,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            batch_size: 64,
            checkpoint_interval: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Embedding(#[from] NpyError),
    #[error("cannot save audio: {0}")]
    Audio(AudioError),
    #[error("the model failed on a batch of {count} sounds starting with {first}: {cause:#}")]
    Model {
        first: String,
        count: usize,
        cause: anyhow::Error,
    },
    #[error("the model returned {found} sounds for a batch of {expected}")]
    Count { expected: usize, found: usize },
    #[error("the model returned {found} samples for {name}, expected {expected}")]
    Length {
        name: String,
        expected: usize,
        found: usize,
    },
    #[error("the model changed the {kept} samples {name} was resumed from")]
    Prefix { name: String, kept: usize },
}

/// Where the checkpoint of the sound finishing at `output` lives.
pub fn checkpoint_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(CHECKPOINT_SUFFIX);
    PathBuf::from(name)
}

/// Makes every task whose output does not exist yet, `batch_size` at a time in task order, and
/// returns how many it made. A task with a usable checkpoint resumes from it. Batches run on
/// [`Synthesizer::concurrency`] threads at once, each taking the next batch as it finishes one
/// (so several GPUs balance themselves); after a failure no new batch starts and the first
/// error is returned.
pub fn generate(
    synth: &dyn Synthesizer,
    tasks: &[GenerationTask],
    options: &GenerateOptions,
    progress: &Progress,
) -> Result<usize, GenerateError> {
    let pending: Vec<&GenerationTask> = tasks.iter().filter(|t| !t.output.exists()).collect();
    if pending.is_empty() {
        return Ok(0);
    }
    tracing::info!(
        "generating {} sounds ({} already done)",
        pending.len(),
        tasks.len() - pending.len()
    );
    let batches: Vec<&[&GenerationTask]> = pending.chunks(options.batch_size.max(1)).collect();
    let workers = synth.concurrency().clamp(1, batches.len());
    let tally = Tally::new(
        progress.bar("generate", 0, "samples"),
        pending.len(),
        workers,
    );
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<GenerateError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (batches, tally, next, failure) = (&batches, &tally, &next, &failure);
            scope.spawn(move || loop {
                if failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some()
                {
                    return;
                }
                let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                if let Err(error) = make_batch(synth, batch, options, tally, worker) {
                    failure
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert(error);
                    return;
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(error);
    }
    tally.bar.finish_and_clear();
    Ok(pending.len())
}

/// Reads, generates and writes one batch.
fn make_batch(
    synth: &dyn Synthesizer,
    batch: &[&GenerationTask],
    options: &GenerateOptions,
    tally: &Tally,
    worker: usize,
) -> Result<(), GenerateError> {
    let jobs = batch
        .iter()
        .map(|task| job_for(task))
        .collect::<Result<Vec<_>, _>>()?;
    let batch_samples: u64 = jobs.iter().map(|j| j.embedding.samples() as u64).sum();
    tally.started(batch.len(), batch_samples);
    let outputs = run_batch(synth, batch, &jobs, options, &|done| {
        tally.working(worker, done)
    })?;
    for (task, audio) in batch.iter().zip(&outputs) {
        write_float_wav(&task.output, audio).map_err(GenerateError::Audio)?;
        remove_checkpoint(&task.output);
    }
    let made = tally.finished(worker, batch.len(), batch_samples);
    tracing::info!("generated {made} of {} sounds", tally.sounds);
    Ok(())
}

/// Samples made across the threads, for the progress bar.
struct Tally {
    bar: Bar,
    sounds: usize,
    /// Sounds and samples of the batches read so far (to estimate the total from).
    read: Mutex<(usize, u64)>,
    finished_sounds: AtomicUsize,
    finished_samples: AtomicU64,
    /// Samples made so far in each thread's current batch.
    in_flight: Vec<AtomicU64>,
}

impl Tally {
    fn new(bar: Bar, sounds: usize, workers: usize) -> Self {
        Self {
            bar,
            sounds,
            read: Mutex::new((0, 0)),
            finished_sounds: AtomicUsize::new(0),
            finished_samples: AtomicU64::new(0),
            in_flight: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Until every batch has been read, assume the rest are like those read.
    fn started(&self, sounds: usize, samples: u64) {
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        read.0 += sounds;
        read.1 += samples;
        let unread = (self.sounds - read.0) as u64;
        self.bar
            .set_length(read.1 + unread * read.1 / read.0 as u64);
    }

    fn working(&self, worker: usize, done: u64) {
        self.in_flight[worker].store(done, Ordering::Relaxed);
        self.show();
    }

    /// Returns the sounds finished so far.
    fn finished(&self, worker: usize, sounds: usize, samples: u64) -> usize {
        self.finished_samples.fetch_add(samples, Ordering::Relaxed);
        self.in_flight[worker].store(0, Ordering::Relaxed);
        self.show();
        self.finished_sounds.fetch_add(sounds, Ordering::Relaxed) + sounds
    }

    fn show(&self) {
        let in_flight: u64 = self
            .in_flight
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum();
        self.bar
            .set_position(self.finished_samples.load(Ordering::Relaxed) + in_flight);
    }
}

/// The job for `task`, resuming from its checkpoint when there is a usable one.
fn job_for(task: &GenerationTask) -> Result<GenerationJob, GenerateError> {
    let embedding = read_embedding(&task.embedding)?;
    let checkpoint = checkpoint_path(&task.output);
    let resume_from = if checkpoint.exists() {
        match read_mono_16k(&checkpoint) {
            Ok(samples) if samples.len() < embedding.samples() => {
                tracing::info!("{}: resuming at sample {}", task.name, samples.len());
                samples
            }
            Ok(samples) => {
                tracing::warn!(
                    "{}: ignoring checkpoint {} of {} samples, longer than the sound; starting over",
                    task.name,
                    checkpoint.display(),
                    samples.len()
                );
                Vec::new()
            }
            Err(error) => {
                tracing::warn!("{}: ignoring unreadable checkpoint: {error}", task.name);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    Ok(GenerationJob {
        embedding,
        seed: task.seed,
        resume_from,
    })
}

/// Runs one batch through the model, saving checkpoints as it reports, and checks what it
/// returns. `show` receives the samples made so far across the batch.
fn run_batch(
    synth: &dyn Synthesizer,
    batch: &[&GenerationTask],
    jobs: &[GenerationJob],
    options: &GenerateOptions,
    show: &dyn Fn(u64),
) -> Result<Vec<Vec<f32>>, GenerateError> {
    let mut saved: Vec<usize> = jobs.iter().map(|j| j.resume_from.len()).collect();
    let mut last_save = Instant::now();
    let mut checkpoint_error: Option<AudioError> = None;
    let mut on_progress = |report: GenerationProgress<'_>| -> anyhow::Result<()> {
        show(report.partial.iter().map(|p| p.len() as u64).sum());
        if last_save.elapsed() < options.checkpoint_interval {
            return Ok(());
        }
        for ((task, partial), saved) in batch.iter().zip(report.partial).zip(&mut saved) {
            if partial.len() > *saved {
                if let Err(error) = write_float_wav(&checkpoint_path(&task.output), partial) {
                    let message = error.to_string();
                    checkpoint_error = Some(error);
                    anyhow::bail!(message);
                }
                *saved = partial.len();
            }
        }
        last_save = Instant::now();
        Ok(())
    };
    let result = synth.generate(jobs, &mut on_progress);
    if let Some(error) = checkpoint_error {
        return Err(GenerateError::Audio(error));
    }
    let outputs = result.map_err(|cause| GenerateError::Model {
        first: batch[0].name.clone(),
        count: batch.len(),
        cause,
    })?;
    if outputs.len() != jobs.len() {
        return Err(GenerateError::Count {
            expected: jobs.len(),
            found: outputs.len(),
        });
    }
    for ((task, job), audio) in batch.iter().zip(jobs).zip(&outputs) {
        if audio.len() != job.embedding.samples() {
            return Err(GenerateError::Length {
                name: task.name.clone(),
                expected: job.embedding.samples(),
                found: audio.len(),
            });
        }
        if audio[..job.resume_from.len()] != job.resume_from[..] {
            return Err(GenerateError::Prefix {
                name: task.name.clone(),
                kept: job.resume_from.len(),
            });
        }
    }
    Ok(outputs)
}

fn remove_checkpoint(output: &Path) {
    let checkpoint = checkpoint_path(output);
    if let Err(error) = std::fs::remove_file(&checkpoint) {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {error}", checkpoint.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::{Embedding, CHANNELS};
    use crate::npy::write_embedding;
    use crate::synth::{job_seed, ToneSynthesizer};
    use std::sync::Mutex;

    /// Records the jobs it is given; fails once it has reported `fail_after` samples of the
    /// first job, if set.
    struct Recording {
        tone: ToneSynthesizer,
        jobs: Mutex<Vec<GenerationJob>>,
        fail_after: Option<usize>,
    }

    impl Recording {
        fn new(fail_after: Option<usize>) -> Self {
            Self {
                tone: ToneSynthesizer { report_every: 512 },
                jobs: Mutex::new(Vec::new()),
                fail_after,
            }
        }
    }

    impl Synthesizer for Recording {
        fn encode(&self, audio: &[f32]) -> anyhow::Result<Embedding> {
            self.tone.encode(audio)
        }

        fn generate(
            &self,
            jobs: &[GenerationJob],
            progress: &mut dyn FnMut(GenerationProgress<'_>) -> anyhow::Result<()>,
        ) -> anyhow::Result<Vec<Vec<f32>>> {
            self.jobs.lock().unwrap().extend(jobs.iter().cloned());
            let fail_after = self.fail_after;
            self.tone.generate(jobs, &mut |report| {
                progress(report)?;
                match fail_after {
                    Some(limit) if report.partial[0].len() >= limit => {
                        anyhow::bail!("out of GPU memory")
                    }
                    _ => Ok(()),
                }
            })
        }
    }

    fn tasks(dir: &Path, count: usize) -> Vec<GenerationTask> {
        (0..count)
            .map(|i| {
                let name = format!("sound{i}");
                let embedding = dir.join(format!("{name}.npy"));
                let values = vec![0.1 * (i + 1) as f32; 4 * CHANNELS];
                write_embedding(&embedding, &Embedding::new(values).unwrap()).unwrap();
                GenerationTask {
                    output: dir.join(format!("gen_{name}.wav")),
                    seed: job_seed(1, &name),
                    name,
                    embedding,
                }
            })
            .collect()
    }

    fn options(batch_size: usize) -> GenerateOptions {
        GenerateOptions {
            batch_size,
            checkpoint_interval: Duration::ZERO,
        }
    }

    #[test]
    fn every_task_is_made_in_batches_and_finished_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = tasks(dir.path(), 5);
        let synth = Recording::new(None);
        let made = generate(&synth, &tasks, &options(2), &Progress::hidden()).unwrap();
        assert_eq!(made, 5);
        for task in &tasks {
            let audio = read_mono_16k(&task.output).unwrap();
            let embedding = read_embedding(&task.embedding).unwrap();
            assert_eq!(audio, ToneSynthesizer::tone(&embedding));
            assert!(!checkpoint_path(&task.output).exists());
        }
        let seeds: Vec<u64> = synth.jobs.lock().unwrap().iter().map(|j| j.seed).collect();
        assert_eq!(seeds, tasks.iter().map(|t| t.seed).collect::<Vec<_>>());

        std::fs::remove_file(&tasks[3].output).unwrap();
        std::fs::write(open_nsynth::atomic::partial_path(&tasks[3].output), b"half").unwrap();
        let synth = Recording::new(None);
        assert_eq!(
            generate(&synth, &tasks, &options(2), &Progress::hidden()).unwrap(),
            1
        );
        assert_eq!(synth.jobs.lock().unwrap().len(), 1);
        assert_eq!(synth.jobs.lock().unwrap()[0].seed, tasks[3].seed);
        assert!(read_mono_16k(&tasks[3].output).is_ok());
    }

    #[test]
    fn an_interrupted_batch_resumes_from_its_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = tasks(dir.path(), 2);
        let failing = Recording::new(Some(1024));
        let error = generate(&failing, &tasks, &options(2), &Progress::hidden()).unwrap_err();
        assert!(matches!(error, GenerateError::Model { .. }), "{error}");
        assert!(error.to_string().contains("out of GPU memory"), "{error}");
        for task in &tasks {
            assert!(!task.output.exists());
            let saved = read_mono_16k(&checkpoint_path(&task.output)).unwrap();
            assert_eq!(saved.len(), 1024);
        }

        let synth = Recording::new(None);
        assert_eq!(
            generate(&synth, &tasks, &options(2), &Progress::hidden()).unwrap(),
            2
        );
        let resumed: Vec<usize> = synth
            .jobs
            .lock()
            .unwrap()
            .iter()
            .map(|j| j.resume_from.len())
            .collect();
        assert_eq!(resumed, [1024, 1024]);
        for task in &tasks {
            let embedding = read_embedding(&task.embedding).unwrap();
            assert_eq!(
                read_mono_16k(&task.output).unwrap(),
                ToneSynthesizer::tone(&embedding)
            );
            assert!(!checkpoint_path(&task.output).exists());
        }
    }

    /// Returns audio of the wrong length.
    struct Truncating;

    impl Synthesizer for Truncating {
        fn encode(&self, _audio: &[f32]) -> anyhow::Result<Embedding> {
            anyhow::bail!("unused")
        }

        fn generate(
            &self,
            jobs: &[GenerationJob],
            _progress: &mut dyn FnMut(GenerationProgress<'_>) -> anyhow::Result<()>,
        ) -> anyhow::Result<Vec<Vec<f32>>> {
            Ok(jobs.iter().map(|_| vec![0.0; 10]).collect())
        }
    }

    #[test]
    fn a_model_returning_the_wrong_length_is_caught_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = tasks(dir.path(), 1);
        let error = generate(&Truncating, &tasks, &options(1), &Progress::hidden()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("sound0") && message.contains("expected 2048"),
            "{message}"
        );
        assert!(!tasks[0].output.exists());
    }

    #[test]
    fn a_checkpoint_longer_than_the_sound_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = tasks(dir.path(), 1);
        write_float_wav(&checkpoint_path(&tasks[0].output), &[0.5; 4096]).unwrap();
        let synth = Recording::new(None);
        generate(&synth, &tasks, &options(1), &Progress::hidden()).unwrap();
        assert!(synth.jobs.lock().unwrap()[0].resume_from.is_empty());
    }
}
