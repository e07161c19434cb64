//! Decoding embedding files to audio files with a [`Synthesizer`] (the original step 04 and the
//! `generate` command): batching, per-sound seeds, periodic checkpoints of the audio made so far
//! (`<output>.checkpoint`, a float WAV), resuming from them, and the finished WAVs (spec §4.6).
//! Each task carries the record its output must have ([`Provenance`]); a finished output with
//! that record is reused, and a checkpoint is resumed only if its record is that one too (else
//! the sound starts over, with a warning saying why). Every file is written atomically, its
//! record after it; the model itself is behind the trait.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::provenance::{
    remove_with_record, verdict, write_record, Provenance, RecordError, Tally, Verdict,
};
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
    /// What its output is made from: the record it gets, and the one a finished output or a
    /// checkpoint must have to be reused.
    pub provenance: Provenance,
}

/// How generation runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    /// Sounds per call to the model.
    pub batch_size: usize,
    /// Least time between two checkpoints of a batch (zero: at every progress report).
    pub checkpoint_interval: Duration,
    /// Make every output again from the start, even one whose record matches, and resume no
    /// checkpoint (`--force`).
    pub force: bool,
    /// Samples per second measured beforehand (the cost estimate's), for the progress's time
    /// left until generation measures its own.
    pub expected_rate: Option<f64>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            batch_size: 64,
            checkpoint_interval: Duration::from_secs(300),
            force: false,
            expected_rate: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Embedding(#[from] NpyError),
    #[error("cannot save audio: {0}")]
    Audio(AudioError),
    #[error(transparent)]
    Record(#[from] RecordError),
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

/// What [`generate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateReport {
    /// Outputs made, made again and reused.
    pub tally: Tally,
    /// Sounds whose checkpoint was made from other inputs (or `force`), started over: for each,
    /// the warning that says so.
    pub restarted: Vec<String>,
}

/// Makes every task whose output cannot be reused (see the module documentation; with
/// `options.force`, every task, from the start), `batch_size` at a time in task order. Batches
/// run on [`Synthesizer::concurrency`] threads at once, each taking the next batch as it finishes one
/// (so several GPUs balance themselves); after a failure no new batch starts and the first
/// error is returned.
pub fn generate(
    synth: &dyn Synthesizer,
    tasks: &[GenerationTask],
    options: &GenerateOptions,
    progress: &Progress,
) -> Result<GenerateReport, GenerateError> {
    let mut report = GenerateReport::default();
    let mut pending: Vec<&GenerationTask> = Vec::new();
    for task in tasks {
        let verdict = verdict(&task.output, &task.provenance, options.force);
        if let Verdict::Redo(reason) = &verdict {
            tracing::debug!("{}: generating again: {reason}", task.name);
        }
        if verdict.is_work() {
            pending.push(task);
        }
        report.tally.count(&verdict);
    }
    if pending.is_empty() {
        return Ok(report);
    }
    tracing::info!(
        "generating {} sounds{}",
        pending.len(),
        report.tally.redone_note()
    );
    report.restarted = pending
        .iter()
        .filter_map(|task| discard_stale_checkpoint(task, options.force))
        .collect();
    let batching = synth.batching(pending.len(), options.batch_size);
    let batches: Vec<&[&GenerationTask]> = pending.chunks(batching.size).collect();
    let workers = batching.at_once;
    synth.expect_batches_at_once(workers);
    let bar = progress.bar("generate", 0, "samples");
    if let Some(rate) = options.expected_rate {
        bar.expect_rate(rate);
    }
    let tally = SampleTally::new(bar, pending.len(), workers);
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
    Ok(report)
}

/// Removes the checkpoint of `task` unless it was made from the same inputs and `force` is off;
/// returns the warning that says so, which it logs.
fn discard_stale_checkpoint(task: &GenerationTask, force: bool) -> Option<String> {
    let checkpoint = checkpoint_path(&task.output);
    let Verdict::Redo(reason) = verdict(&checkpoint, &task.provenance, force) else {
        return None;
    };
    let notice = format!(
        "{}: starting over instead of resuming {}: {reason}",
        task.name,
        checkpoint.display()
    );
    tracing::warn!("{notice}");
    remove_with_record(&checkpoint);
    Some(notice)
}

/// Reads, generates and writes one batch.
fn make_batch(
    synth: &dyn Synthesizer,
    batch: &[&GenerationTask],
    options: &GenerateOptions,
    tally: &SampleTally,
    worker: usize,
) -> Result<(), GenerateError> {
    let jobs = batch.iter().map(job_for).collect::<Result<Vec<_>, _>>()?;
    let batch_samples: u64 = jobs.iter().map(|j| j.embedding.samples() as u64).sum();
    tally.started(batch.len(), batch_samples);
    let outputs = run_batch(synth, batch, &jobs, options, &|done| {
        tally.working(worker, done)
    })?;
    for (task, audio) in batch.iter().zip(&outputs) {
        write_float_wav(&task.output, audio).map_err(GenerateError::Audio)?;
        write_record(&task.output, &task.provenance)?;
        remove_with_record(&checkpoint_path(&task.output));
    }
    let made = tally.finished(worker, batch.len(), batch_samples);
    tracing::info!("generated {made} of {} sounds", tally.sounds);
    Ok(())
}

/// Samples made across the threads, for the progress bar.
struct SampleTally {
    bar: Bar,
    sounds: usize,
    /// Sounds and samples of the batches read so far (to estimate the total from).
    read: Mutex<(usize, u64)>,
    finished_sounds: AtomicUsize,
    finished_samples: AtomicU64,
    /// Samples made so far in each thread's current batch.
    in_flight: Vec<AtomicU64>,
}

impl SampleTally {
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

/// The job for `task`, resuming from its checkpoint (made from the same inputs: stale ones are
/// gone by now) if it is readable and shorter than the sound.
fn job_for(task: &&GenerationTask) -> Result<GenerationJob, GenerateError> {
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
    // Samples saved so far: a resumed checkpoint has its record already; a new one (nothing
    // saved) gets it with its first save.
    let mut saved: Vec<usize> = jobs.iter().map(|j| j.resume_from.len()).collect();
    let mut last_save = Instant::now();
    let mut checkpoint_error: Option<GenerateError> = None;
    let mut on_progress = |report: GenerationProgress<'_>| -> anyhow::Result<()> {
        show(report.partial.iter().map(|p| p.len() as u64).sum());
        if last_save.elapsed() < options.checkpoint_interval {
            return Ok(());
        }
        let slots = batch.iter().zip(report.partial).zip(&mut saved);
        for ((task, partial), saved) in slots {
            if partial.len() > *saved {
                let checkpoint = checkpoint_path(&task.output);
                let first_save = *saved == 0;
                let written = write_float_wav(&checkpoint, partial)
                    .map_err(GenerateError::Audio)
                    .and_then(|()| {
                        if !first_save {
                            return Ok(());
                        }
                        write_record(&checkpoint, &task.provenance).map_err(GenerateError::from)
                    });
                if let Err(error) = written {
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
        return Err(error);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::{Embedding, CHANNELS};
    use crate::npy::write_embedding;
    use crate::pipeline::provenance::record_path;
    use crate::synth::{job_seed, ModelIdentity, ToneSynthesizer};
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

        fn resumed_from(&self) -> Vec<usize> {
            let jobs = self.jobs.lock().unwrap();
            jobs.iter().map(|j| j.resume_from.len()).collect()
        }
    }

    impl Synthesizer for Recording {
        fn identity(&self) -> ModelIdentity {
            self.tone.identity()
        }

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

    /// `count` sounds of a run seeded with `seed`.
    fn tasks(dir: &Path, count: usize, seed: u64) -> Vec<GenerationTask> {
        (0..count)
            .map(|i| {
                let name = format!("sound{i}");
                let embedding = dir.join(format!("{name}.npy"));
                let values = vec![0.1 * (i + 1) as f32; 4 * CHANNELS];
                write_embedding(&embedding, &Embedding::new(values).unwrap()).unwrap();
                GenerationTask {
                    output: dir.join(format!("gen_{name}.wav")),
                    seed: job_seed(seed, &name),
                    provenance: Provenance {
                        seed: Some(seed),
                        ..Provenance::new(ModelIdentity::Tone)
                    },
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
            ..GenerateOptions::default()
        }
    }

    #[test]
    fn every_task_is_made_in_batches_and_finished_ones_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = tasks(dir.path(), 5, 1);
        let synth = Recording::new(None);
        let report = generate(&synth, &tasks, &options(2), &Progress::hidden()).unwrap();
        assert_eq!((report.tally.new, report.tally.reused), (5, 0));
        for task in &tasks {
            let audio = read_mono_16k(&task.output).unwrap();
            let embedding = read_embedding(&task.embedding).unwrap();
            assert_eq!(audio, ToneSynthesizer::tone(&embedding));
            assert!(!checkpoint_path(&task.output).exists());
            assert_eq!(
                verdict(&task.output, &task.provenance, false),
                Verdict::Reuse
            );
        }
        let seeds: Vec<u64> = synth.jobs.lock().unwrap().iter().map(|j| j.seed).collect();
        assert_eq!(seeds, tasks.iter().map(|t| t.seed).collect::<Vec<_>>());

        std::fs::remove_file(&tasks[3].output).unwrap();
        std::fs::write(open_nsynth::atomic::partial_path(&tasks[3].output), b"half").unwrap();
        let synth = Recording::new(None);
        let report = generate(&synth, &tasks, &options(2), &Progress::hidden()).unwrap();
        assert_eq!((report.tally.new, report.tally.reused), (1, 4));
        assert_eq!(synth.jobs.lock().unwrap().len(), 1);
        assert_eq!(synth.jobs.lock().unwrap()[0].seed, tasks[3].seed);
        assert!(read_mono_16k(&tasks[3].output).is_ok());
    }

    #[test]
    fn outputs_of_another_seed_or_without_a_record_are_made_again_and_force_redoes_all() {
        let dir = tempfile::tempdir().unwrap();
        generate(
            &Recording::new(None),
            &tasks(dir.path(), 3, 1),
            &options(3),
            &Progress::hidden(),
        )
        .unwrap();
        let tasks = tasks(dir.path(), 3, 2);
        std::fs::remove_file(record_path(&tasks[0].output)).unwrap();
        let synth = Recording::new(None);
        let report = generate(&synth, &tasks, &options(3), &Progress::hidden()).unwrap();
        assert_eq!(
            report.tally.describe("generated"),
            "3 generated (3 redone: 1 no record of what made it, 2 seed changed)"
        );
        let seeds: Vec<u64> = synth.jobs.lock().unwrap().iter().map(|j| j.seed).collect();
        assert_eq!(seeds, tasks.iter().map(|t| t.seed).collect::<Vec<_>>());

        let forced = GenerateOptions {
            force: true,
            ..options(3)
        };
        let report = generate(&synth, &tasks, &forced, &Progress::hidden()).unwrap();
        assert_eq!(
            report.tally.describe("generated"),
            "3 generated (3 redone: --force)"
        );
        let report = generate(&synth, &tasks, &options(3), &Progress::hidden()).unwrap();
        assert_eq!(report.tally.describe("generated"), "0 generated, 3 reused");
    }

    #[test]
    fn an_interrupted_batch_resumes_from_its_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = tasks(dir.path(), 2, 1);
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
        let report = generate(&synth, &tasks, &options(2), &Progress::hidden()).unwrap();
        assert_eq!(report.tally.new, 2);
        assert!(report.restarted.is_empty());
        assert_eq!(synth.resumed_from(), [1024, 1024]);
        for task in &tasks {
            let embedding = read_embedding(&task.embedding).unwrap();
            assert_eq!(
                read_mono_16k(&task.output).unwrap(),
                ToneSynthesizer::tone(&embedding)
            );
            assert!(!checkpoint_path(&task.output).exists());
            assert!(!record_path(&checkpoint_path(&task.output)).exists());
        }
    }

    #[test]
    fn a_checkpoint_of_another_seed_is_not_resumed_but_started_over_with_a_notice() {
        let dir = tempfile::tempdir().unwrap();
        let failing = Recording::new(Some(1024));
        let first = tasks(dir.path(), 2, 0);
        generate(&failing, &first, &options(2), &Progress::hidden()).unwrap_err();
        assert!(checkpoint_path(&first[0].output).exists());

        let synth = Recording::new(None);
        let second = tasks(dir.path(), 2, 7);
        let report = generate(&synth, &second, &options(2), &Progress::hidden()).unwrap();
        assert_eq!(synth.resumed_from(), [0, 0]);
        let checkpoint = checkpoint_path(&second[0].output);
        assert_eq!(
            report.restarted[0],
            format!(
                "sound0: starting over instead of resuming {}: seed changed",
                checkpoint.display()
            )
        );
        assert_eq!(report.restarted.len(), 2);
        for task in &second {
            let embedding = read_embedding(&task.embedding).unwrap();
            assert_eq!(
                read_mono_16k(&task.output).unwrap(),
                ToneSynthesizer::tone(&embedding)
            );
        }
        let seeds: Vec<u64> = synth.jobs.lock().unwrap().iter().map(|j| j.seed).collect();
        assert_eq!(seeds, second.iter().map(|t| t.seed).collect::<Vec<_>>());
    }

    /// Returns audio of the wrong length.
    struct Truncating;

    impl Synthesizer for Truncating {
        fn identity(&self) -> ModelIdentity {
            ModelIdentity::Tone
        }

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
        let tasks = tasks(dir.path(), 1, 1);
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
        let tasks = tasks(dir.path(), 1, 1);
        let checkpoint = checkpoint_path(&tasks[0].output);
        write_float_wav(&checkpoint, &[0.5; 4096]).unwrap();
        write_record(&checkpoint, &tasks[0].provenance).unwrap();
        let synth = Recording::new(None);
        generate(&synth, &tasks, &options(1), &Progress::hidden()).unwrap();
        assert!(synth.jobs.lock().unwrap()[0].resume_from.is_empty());
    }
}
