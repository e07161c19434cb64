//! The host-tools commands as plain functions of parsed arguments, for `main.rs` to call: encode
//! recordings, generate audio from embeddings, run the pad pipeline, make a grain cloud, and
//! write a SLURM script for a cluster. They print nothing (progress goes to the given
//! [`Progress`], remarks to `tracing`) and return `anyhow` errors with the context a user needs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _};

use crate::audio::{load_for_encoding, read_mono_16k, NOTE_SAMPLES, RECORDING_EXTENSIONS};
use crate::checkpoint::Checkpoint;
use crate::embedding::{Embedding, HOP_LENGTH};
use crate::npy::{read_embedding, write_embedding, write_f32_array};
use crate::pipeline::{
    self, GenerateOptions, GenerationTask, PipelineConfig, PipelineOptions, PipelineReport, Shard,
};
use crate::progress::Progress;
use crate::slurm::{SlurmJob, SlurmWork};
use crate::synth::{job_seed, GenerationJob, NsynthSynthesizer, Synthesizer};
use open_nsynth::atomic::write_atomically;

/// What [`encode`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeReport {
    /// The embedding files it wrote, in path order.
    pub written: Vec<PathBuf>,
    /// Recordings whose embedding was already there.
    pub skipped: usize,
}

/// Encodes one recording, or every recording (`.wav`, `.aif`, `.aiff`, `.flac`) of a folder in
/// path order, into `out_dir/<stem>_embeddings.npy` (`[frames, 16]`; at most the first 4 s, cut
/// to whole 512-sample frames, as `nsynth_save_embeddings`). Resumable: a recording whose
/// embedding exists is skipped, since embeddings are written atomically and an existing one is
/// complete.
pub fn encode(
    synth: &dyn Synthesizer,
    input: &Path,
    out_dir: &Path,
    progress: &Progress,
) -> anyhow::Result<EncodeReport> {
    let recordings = inputs(
        input,
        &RECORDING_EXTENSIONS,
        "recordings (.wav, .aif, .aiff or .flac)",
    )?;
    create_dir(out_dir)?;
    let mut todo = Vec::with_capacity(recordings.len());
    for recording in &recordings {
        let out = out_dir.join(format!("{}_embeddings.npy", stem(recording)?));
        if !out.exists() {
            todo.push((recording, out));
        }
    }
    let skipped = recordings.len() - todo.len();
    if skipped > 0 {
        tracing::info!("{skipped} embeddings are already in {}", out_dir.display());
    }
    let bar = progress.bar("encode", todo.len() as u64, "files");
    let mut written = Vec::with_capacity(todo.len());
    for (recording, out) in todo {
        let audio = load_for_encoding(recording, NOTE_SAMPLES)?;
        let embedding = encode_checked(synth, &audio)
            .with_context(|| format!("cannot encode {}", recording.display()))?;
        write_embedding(&out, &embedding)?;
        written.push(out);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(EncodeReport { written, skipped })
}

/// Generates `out_dir/gen_<stem>.wav` (spec §4.6) for one embedding file or every `.npy` of a
/// folder in path order, `options.batch_size` at a time. Each file makes `frames × 512` samples
/// (its own length, not Magenta's padding to `sample_length` frames). Resumable: finished WAVs
/// are skipped and interrupted ones continue from their checkpoints. With a `shard`, only the
/// files whose place `i` in that path order the shard owns (`i mod N = K`); a file's audio
/// depends only on its name and the seed, so shards sharing `out_dir` make what one run would.
/// Returns how many it made.
pub fn generate(
    synth: &dyn Synthesizer,
    embeddings: &Path,
    out_dir: &Path,
    options: &GenerateOptions,
    seed: u64,
    shard: Option<Shard>,
    progress: &Progress,
) -> anyhow::Result<usize> {
    let sources = inputs(embeddings, &["npy"], ".npy embeddings")?;
    let total = sources.len();
    let mine: Vec<PathBuf> = sources
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| shard.is_none_or(|shard| shard.owns(i)))
        .map(|(_, source)| source)
        .collect();
    if let Some(shard) = shard {
        tracing::info!("shard {shard}: {} of {total} embedding files", mine.len());
    }
    create_dir(out_dir)?;
    let tasks = mine
        .into_iter()
        .map(|embedding| {
            let name = stem(&embedding)?.to_string();
            Ok(GenerationTask {
                output: out_dir.join(format!("gen_{name}.wav")),
                seed: job_seed(seed, &name),
                name,
                embedding,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(pipeline::generate(synth, &tasks, options, progress)?)
}

/// Writes the teacher-forced logits `[T, 256]` of the model for the recording `audio` (read as
/// `encode` reads it: 16 kHz mono, at most 4 s, whole 512-sample frames) conditioned on the
/// embedding file `encoding`, which must have one frame per 512 samples. For checking the model
/// against other implementations and for research.
pub fn logits(
    synth: &NsynthSynthesizer,
    audio: &Path,
    encoding: &Path,
    out: &Path,
) -> anyhow::Result<[usize; 2]> {
    let samples = load_for_encoding(audio, NOTE_SAMPLES)?;
    let embedding = read_embedding(encoding)?;
    ensure!(
        embedding.samples() == samples.len(),
        "{} has {} frames, but {} has {} samples ({} frames of {HOP_LENGTH})",
        encoding.display(),
        embedding.frames(),
        audio.display(),
        samples.len(),
        samples.len() / HOP_LENGTH
    );
    let logits = synth.teacher_forced_logits(&samples, embedding.values())?;
    let shape = [samples.len(), logits.len() / samples.len()];
    write_f32_array(out, &shape, &logits)?;
    Ok(shape)
}

/// Runs the pad pipeline with the settings file `config_path` in `workdir`
/// (see [`crate::pipeline`]).
pub fn pipeline(
    config_path: &Path,
    workdir: &Path,
    synth: &dyn Synthesizer,
    options: &PipelineOptions,
    progress: &Progress,
) -> anyhow::Result<PipelineReport> {
    let config = PipelineConfig::from_file(config_path)?;
    Ok(pipeline::run(&config, workdir, synth, options, progress)?)
}

/// The shape of a grain cloud; the defaults are the tutorial's (128 grains of 1024 samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrainOptions {
    /// Grains in the cloud.
    pub count: usize,
    /// Samples per grain at 16 kHz, a whole number of 512-sample frames.
    pub grain_length: usize,
    /// Seed of the run; grain `i` is seeded with `job_seed(seed, "grain<i>")`.
    pub seed: u64,
}

impl Default for GrainOptions {
    fn default() -> Self {
        Self {
            count: 128,
            grain_length: 1024,
            seed: 0,
        }
    }
}

/// A grain cloud as py-modular's NSynth tutorial makes one (`create_grains`,
/// `interpolate_grains`, `generate_grains`, `save_grain_cloud`), from two recordings:
///
/// * a grain is the first `grain_length` samples (16 kHz) of a recording, encoded; the length
///   must be a whole number of 512-sample frames (the tutorial's minimum is 512);
/// * grain `i` of `count` is `a · (i / count) + b · (1 − i / count)` in embedding space, in
///   float32 as NumPy computes it: the cloud starts at pure `b` and moves toward `a` without
///   reaching it, exactly as the tutorial's `interpolate_grains`;
/// * all grains are decoded in one batch and saved with `np.save`'s layout as a float32
///   `[count, grain_length]` array.
pub fn grains(
    synth: &dyn Synthesizer,
    a_wav: &Path,
    b_wav: &Path,
    options: &GrainOptions,
    out_npy: &Path,
    progress: &Progress,
) -> anyhow::Result<()> {
    let GrainOptions {
        count,
        grain_length,
        seed,
    } = *options;
    ensure!(count > 0, "a grain cloud needs at least one grain");
    ensure!(
        grain_length >= HOP_LENGTH && grain_length % HOP_LENGTH == 0,
        "grain length {grain_length} is not a whole number of {HOP_LENGTH}-sample frames \
         (e.g. 1024, 2048, 4096)"
    );
    let grain_of = |path: &Path| -> anyhow::Result<Embedding> {
        let audio = read_mono_16k(path)?;
        if audio.len() < grain_length {
            bail!(
                "{} has {} samples at 16 kHz, fewer than one grain of {grain_length}",
                path.display(),
                audio.len()
            );
        }
        encode_checked(synth, &audio[..grain_length])
            .with_context(|| format!("cannot encode {}", path.display()))
    };
    let (a, b) = (grain_of(a_wav)?, grain_of(b_wav)?);
    let jobs: Vec<GenerationJob> = (0..count)
        .map(|i| {
            let weight_a = i as f64 / count as f64;
            let (wa, wb) = (weight_a as f32, (1.0 - weight_a) as f32);
            let values = a
                .values()
                .iter()
                .zip(b.values())
                .map(|(&va, &vb)| va * wa + vb * wb)
                .collect();
            GenerationJob {
                embedding: Embedding::new(values).expect("a mix of whole embeddings is whole"),
                seed: job_seed(seed, &format!("grain{i}")),
                resume_from: Vec::new(),
            }
        })
        .collect();
    let bar = progress.bar("grains", (count * grain_length) as u64, "samples");
    let audio = synth
        .generate(&jobs, &mut |report| {
            bar.set_position(report.partial.iter().map(|p| p.len() as u64).sum());
            Ok(())
        })
        .context("the model failed to generate the grains")?;
    bar.finish_and_clear();
    ensure!(
        audio.len() == count && audio.iter().all(|grain| grain.len() == grain_length),
        "the model returned grains of the wrong number or length"
    );
    let values: Vec<f32> = audio.concat();
    write_f32_array(out_npy, &[count, grain_length], &values)?;
    Ok(())
}

/// Writes the batch script of `job` atomically to [`SlurmJob::script_path`] and makes the
/// folder its tasks log to, once the settings, embeddings and checkpoint it names are found
/// usable: its tasks may wait in the queue for hours before they could find out. Returns the
/// script's path.
pub fn slurm(job: &SlurmJob) -> anyhow::Result<PathBuf> {
    let script = job.script()?;
    match &job.work {
        SlurmWork::Pipeline { config } => {
            PipelineConfig::from_file(config)?;
        }
        SlurmWork::Generate { embeddings, .. } => {
            ensure!(
                embeddings.exists(),
                "{} does not exist",
                embeddings.display()
            );
            inputs(embeddings, &["npy"], ".npy embeddings")?;
        }
    }
    Checkpoint::open(&job.model.checkpoint)?;
    create_dir(&job.logs_dir())?;
    let path = job.script_path();
    write_atomically(&path, |file| file.write_all(script.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Encodes and checks that the model kept one frame per 512 samples.
fn encode_checked(synth: &dyn Synthesizer, audio: &[f32]) -> anyhow::Result<Embedding> {
    let embedding = synth.encode(audio)?;
    ensure!(
        embedding.frames() * HOP_LENGTH == audio.len(),
        "the model returned {} frames for {} samples",
        embedding.frames(),
        audio.len()
    );
    Ok(embedding)
}

/// Files of `dir` whose extension is one of `extensions` (any case), sorted by path.
/// The files a command works on: `input` itself, or the files of the folder `input` whose
/// extension is one of `extensions`, in path order; a folder with none is an error saying it
/// holds no `what`.
fn inputs(input: &Path, extensions: &[&str], what: &str) -> anyhow::Result<Vec<PathBuf>> {
    if !input.is_dir() {
        return Ok(vec![input.to_path_buf()]);
    }
    let found = files_with_extensions(input, extensions)?;
    ensure!(!found.is_empty(), "{} holds no {what}", input.display());
    Ok(found)
}

fn files_with_extensions(dir: &Path, extensions: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e.to_ascii_lowercase().as_str()));
        if wanted && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn stem(path: &Path) -> anyhow::Result<&str> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("{} has no usable file name", path.display()))
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::read_embedding;
    use crate::synth::ToneSynthesizer;
    use std::f64::consts::TAU;

    fn write_tone(path: &Path, frequency: f64, samples: usize) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..samples {
            let value = 0.4 * (TAU * frequency * i as f64 / 16000.0).sin();
            wav.write_sample((value * 32767.0) as i16).unwrap();
        }
        wav.finalize().unwrap();
    }

    #[test]
    fn encode_then_generate_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let recordings = dir.path().join("in");
        std::fs::create_dir(&recordings).unwrap();
        write_tone(&recordings.join("violin_24.wav"), 300.0, 70000);
        write_tone(&recordings.join("windfx_24.WAV"), 500.0, 2000);
        std::fs::write(recordings.join("notes.txt"), "not audio").unwrap();
        let embeddings = dir.path().join("embeddings");
        let synth = ToneSynthesizer::default();
        let report = encode(&synth, &recordings, &embeddings, &Progress::hidden()).unwrap();
        let written = report.written;
        assert_eq!(report.skipped, 0);
        // Proper stems, not the original's character strip (`iolin_24`, `indfx_24`).
        assert_eq!(
            written,
            [
                embeddings.join("violin_24_embeddings.npy"),
                embeddings.join("windfx_24_embeddings.npy")
            ]
        );
        assert_eq!(read_embedding(&written[0]).unwrap().frames(), 125);
        assert_eq!(read_embedding(&written[1]).unwrap().frames(), 3);

        let out = dir.path().join("out");
        let options = GenerateOptions {
            batch_size: 1,
            ..GenerateOptions::default()
        };
        let made = generate(
            &synth,
            &embeddings,
            &out,
            &options,
            0,
            None,
            &Progress::hidden(),
        )
        .unwrap();
        assert_eq!(made, 2);
        let short = read_mono_16k(&out.join("gen_windfx_24_embeddings.wav")).unwrap();
        assert_eq!(short.len(), 1536);
        let again = generate(
            &synth,
            &embeddings,
            &out,
            &options,
            0,
            None,
            &Progress::hidden(),
        )
        .unwrap();
        assert_eq!(again, 0);
    }

    #[test]
    fn encode_skips_embeddings_that_are_there() {
        let dir = tempfile::tempdir().unwrap();
        let recordings = dir.path().join("in");
        std::fs::create_dir(&recordings).unwrap();
        for (name, frequency) in [("a", 300.0), ("b", 500.0), ("c", 700.0)] {
            write_tone(&recordings.join(format!("{name}.wav")), frequency, 1024);
        }
        let out = dir.path().join("embeddings");
        let synth = ToneSynthesizer::default();
        let first = encode(&synth, &recordings, &out, &Progress::hidden()).unwrap();
        assert_eq!((first.written.len(), first.skipped), (3, 0));

        // An existing file is taken as finished, whatever it holds; a missing one is made again.
        std::fs::write(out.join("a_embeddings.npy"), b"kept").unwrap();
        std::fs::remove_file(out.join("c_embeddings.npy")).unwrap();
        let second = encode(&synth, &recordings, &out, &Progress::hidden()).unwrap();
        assert_eq!(second.written, [out.join("c_embeddings.npy")]);
        assert_eq!(second.skipped, 2);
        assert_eq!(
            std::fs::read(out.join("a_embeddings.npy")).unwrap(),
            b"kept"
        );
        assert_eq!(read_embedding(&second.written[0]).unwrap().frames(), 2);
    }

    #[test]
    fn an_empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let synth = ToneSynthesizer::default();
        let message = encode(&synth, dir.path(), dir.path(), &Progress::hidden())
            .unwrap_err()
            .to_string();
        assert!(message.contains("holds no recordings"), "{message}");
    }

    #[test]
    fn a_grain_cloud_moves_from_b_toward_a() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
        write_tone(&a, 800.0, 4096);
        write_tone(&b, 400.0, 4096);
        let out = dir.path().join("generated_grain_cloud.npy");
        let synth = ToneSynthesizer::default();
        let options = |grain_length| GrainOptions {
            count: 4,
            grain_length,
            seed: 0,
        };
        grains(&synth, &a, &b, &options(2048), &out, &Progress::hidden()).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        let npy = npyz::NpyFile::new(bytes.as_slice()).unwrap();
        assert_eq!(npy.shape(), [4, 2048]);
        let cloud: Vec<f32> = npy.into_vec().unwrap();
        // Grain i is a sine at 400 + 400 · i/4 Hz: count its upward zero crossings.
        for (i, grain) in cloud.chunks(2048).enumerate() {
            let ups = grain
                .windows(2)
                .filter(|p| p[0] < 0.0 && p[1] >= 0.0)
                .count() as f64;
            let expected = (400.0 + 400.0 * i as f64 / 4.0) * 2048.0 / 16000.0;
            assert!(
                (ups - expected).abs() <= 1.5,
                "grain {i}: {ups} vs {expected}"
            );
        }

        let error = grains(&synth, &a, &b, &options(1000), &out, &Progress::hidden()).unwrap_err();
        assert!(error.to_string().contains("512-sample frames"), "{error}");
        let error = grains(&synth, &a, &b, &options(8192), &out, &Progress::hidden()).unwrap_err();
        assert!(
            error.to_string().contains("a.wav has 4096 samples"),
            "{error}"
        );
    }

    #[test]
    fn the_pipeline_command_names_a_bad_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        let settings = dir.path().join("settings.json");
        std::fs::write(&settings, r#"{"pads": {}}"#).unwrap();
        let synth = ToneSynthesizer::default();
        let message = pipeline(
            &settings,
            dir.path(),
            &synth,
            &PipelineOptions::default(),
            &Progress::hidden(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("settings.json") && message.contains("pads"),
            "{message}"
        );
    }
}
