//! The command line: subcommands, their flags and help, and the command each one runs.
//! Parsing and dispatch only: the commands in [`crate::commands`] do the work through the
//! library and print what it did.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use open_nsynth::atomic::check_output;

use crate::commands::{self, bench::BenchOptions, grains::GrainOptions};
use crate::cuda::{Placement, Precision};
use crate::model::{GivenStages, WeightFormat};
use crate::pipeline::{GenerateOptions, PipelineOptions, Shard, ShardSpec};
use crate::progress::Progress;
use crate::slurm::{Memory, ModelFlags, Resources, SlurmWork, TimeLimit};
use crate::synth::{CpuChoice, NsynthSynthesizer, Synthesizer, ToneSynthesizer};

/// Makes and checks pads for the Open NSynth Super.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every pad a device settings file can select and whether it is there at the right size.
    ///
    /// The device plays the pad named after the selected instrument of each corner, in settings
    /// order (top-left, top-right, bottom-left, bottom-right). Exits 1 if any pad is missing or
    /// has the wrong size.
    Pads {
        /// The device's settings.json.
        #[arg(long)]
        settings: PathBuf,
    },
    /// Encode recordings into NSynth embeddings (.npy, [frames, 16] float32).
    ///
    /// Reads WAV, AIFF or FLAC at any rate, mixes to mono, resamples to 16 kHz, keeps at most the
    /// first 4 s cut to whole 512-sample frames, and writes OUT/<name>_embeddings.npy with a
    /// record of what made it (<name>_embeddings.npy.provenance.json). Resumable: an embedding
    /// already in OUT made from the same recording by the same model is reused. Recordings that
    /// cannot be used (not audio, empty, too short, silent) are skipped and listed; the exit
    /// status is then 2.
    Encode {
        #[command(flatten)]
        model: ModelArgs,
        /// A recording, or a folder of them.
        #[arg(long)]
        input: PathBuf,
        /// Folder for the embeddings.
        #[arg(long)]
        out: PathBuf,
        /// Encode every recording again, even where the embedding is up to date.
        #[arg(long)]
        force: bool,
        /// Stop at the first recording that cannot be used instead of skipping it.
        #[arg(long)]
        strict: bool,
    },
    /// Teacher-forced logits [T, 256] of the decoder for a recording and its embedding.
    Logits {
        #[command(flatten)]
        model: ModelArgs,
        /// The recording (read as `encode` reads it).
        #[arg(long)]
        audio: PathBuf,
        /// Its embedding (.npy, one frame per 512 samples).
        #[arg(long)]
        encoding: PathBuf,
        /// The .npy file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate 16 kHz audio from embeddings, sample by sample.
    ///
    /// Writes OUT/gen_<name>.wav for each .npy (one file or a folder), with a record of the
    /// embedding, model and seed that made it. Resumable: finished WAVs made from the same
    /// embedding, model and seed are reused, and a killed run continues from the partial audio it
    /// saved if that was made from them too (else it starts over, saying why). The same seed
    /// gives the same audio for each file, however the files are batched or sharded.
    Generate {
        #[command(flatten)]
        model: ModelArgs,
        /// An embedding file, or a folder of them.
        #[arg(long)]
        embeddings: PathBuf,
        /// Folder for the WAVs.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Only shard K of N (K from 0): the files whose place in path order is K mod N. Run
        /// every shard, e.g. one per GPU or cluster task, into the same OUT.
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
        /// Generate every file again from the start, even where it is up to date.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        estimate: EstimateArg,
    },
    /// The whole Open NSynth Super pipeline: recordings to pads and a device settings.json.
    ///
    /// Reads the original pipeline's settings file (pads NW/NE/SW/SE, pitches, resolution,
    /// final_length, gpus) and recordings named <instrument>_<pitch>.wav next to it (in its
    /// `audio_input` folder), then encodes, interpolates the grid, generates, cleans and builds
    /// the pads in WORKDIR. Every output gets a record of what made it (X.provenance.json), and
    /// every step reuses what was made from the same inputs and redoes the rest: a changed
    /// recording, seed, note_length, final_length or checkpoint redoes exactly what depends on
    /// it. A dry run writes in WORKDIR/dry-run. Recordings that cannot be used are skipped with
    /// the sounds and pads that need them; the exit status is then 2. To share the work, run
    /// every shard K/N (K = 0..N-1) with --shard K/N, e.g. one per GPU or cluster task, or
    /// --shard K alone for N from the settings' `gpus`; the last shard to finish builds the pads.
    Pipeline {
        /// The pipeline settings (the original `audio/settings.json` keys).
        #[arg(long)]
        config: PathBuf,
        /// Work folder: embeddings, generated and cleaned audio, pads.
        #[arg(long)]
        workdir: PathBuf,
        #[command(flatten)]
        model: OptionalModelArgs,
        #[command(flatten)]
        run: RunArgs,
        /// Only shard K of N of the generation (K from 0); a bare K takes N from `gpus`.
        #[arg(long, value_name = "K/N")]
        shard: Option<ShardSpec>,
        /// Redo every step, even where its outputs are up to date.
        #[arg(long)]
        force: bool,
        /// Stop at the first recording that cannot be used instead of skipping it.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        estimate: EstimateArg,
    },
    /// A grain cloud between two sounds, interpolated in embedding space (as py-modular's
    /// NSynth tutorial makes one), saved as a float32 [count, grain_length] .npy array.
    Grains {
        #[command(flatten)]
        model: ModelArgs,
        /// The sound the cloud moves toward.
        #[arg(long)]
        a: PathBuf,
        /// The sound the cloud starts from.
        #[arg(long)]
        b: PathBuf,
        /// Grains in the cloud.
        #[arg(long, default_value_t = 128)]
        count: usize,
        /// Samples per grain at 16 kHz, a multiple of 512.
        #[arg(long, default_value_t = 1024)]
        grain_length: usize,
        /// Seed of the sampling.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The .npy file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a SLURM batch script that runs `pipeline` (with --config) or `generate` (with
    /// --embeddings and --out) as a job array, one shard per task.
    ///
    /// Writes WORKDIR/open-nsynth-pipeline.sbatch or open-nsynth-generate.sbatch and the
    /// WORKDIR/logs folder the tasks log to, and prints the sbatch command that submits it. Task
    /// K of --tasks N runs shard K/N with --gpus-per-task GPUs; pre-empted tasks are requeued, and
    /// every task resumes from what earlier tries saved, so submitting the script again finishes
    /// an interrupted job. The tasks run this host-tools binary with absolute paths, so the
    /// binary, the model and the folders must be on storage every node sees. For the pipeline,
    /// WORKDIR is its work folder.
    Slurm {
        /// Folder of the script and its logs (the pipeline's work folder).
        #[arg(long)]
        workdir: PathBuf,
        /// Tasks of the array, i.e. shards.
        #[arg(long)]
        tasks: usize,
        /// GPUs each task asks for (0: none).
        #[arg(long, default_value_t = 1)]
        gpus_per_task: usize,
        /// The pipeline settings: the tasks run `pipeline`.
        #[arg(
            long,
            required_unless_present = "embeddings",
            conflicts_with = "embeddings"
        )]
        config: Option<PathBuf>,
        /// Embedding file or folder: the tasks run `generate`.
        #[arg(long, requires = "out")]
        embeddings: Option<PathBuf>,
        /// Folder for the WAVs of `generate`.
        #[arg(long, requires = "embeddings")]
        out: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        run: RunArgs,
        /// Partition of the tasks.
        #[arg(long)]
        partition: Option<String>,
        /// Time limit of each task in SLURM's formats: minutes, minutes:seconds,
        /// hours:minutes:seconds, days-hours, days-hours:minutes or days-hours:minutes:seconds,
        /// e.g. 24:00:00 or 1-12.
        #[arg(long)]
        time: Option<TimeLimit>,
        /// CPU cores of each task.
        #[arg(long)]
        cpus_per_task: Option<usize>,
        /// Memory of each task: a whole number of megabytes, or one with a K, M, G or T suffix,
        /// e.g. 32G.
        #[arg(long)]
        mem: Option<Memory>,
    },
    /// Benchmark NSynth generation on a GPU or the CPU with the released model's shape (random
    /// weights).
    ///
    /// On a GPU, for each batch size, times whole frames of generation (conditioning and 512
    /// steps) with CUDA events after a warm-up frame, and prints samples per second, 4-second
    /// notes per hour, the TFLOP/s reached (Magenta's count of 59 741 696 multiply-adds per
    /// sample), its share of the GPU's dense peak, and the device memory in use. On the CPU
    /// (--device cpu), times --steps steps at each batch size and weight format for --rounds
    /// rounds and prints the medians, the GFLOP/s and their share of the cores' peak (measured
    /// with an FMA loop), then the largest batch on 1, 2, 4, … threads. With --baseline, runs
    /// the PyTorch step-by-step baseline (host-tools/bench/fastgen_torch.py) on the same device,
    /// on the CPU in turns with ours each round, and prints the speed-up at each batch size.
    Bench {
        /// The device to measure: cuda:N, or cpu.
        #[arg(long, default_value = "cuda:0")]
        device: String,
        /// GPU arithmetic (tf32, bf16 or fp32).
        #[arg(long, default_value = "tf32")]
        precision: Precision,
        /// Batch sizes; on a GPU `max` is the largest that fits in its free memory. Default:
        /// 1,64,512,max on a GPU, 1,16,64 on the CPU.
        #[arg(long)]
        batches: Option<String>,
        /// GPU: frames of 512 steps timed at each batch size.
        #[arg(long, default_value_t = 2)]
        frames: usize,
        /// The GPU's dense peak TFLOP/s for this precision (known for H100 and H200).
        #[arg(long)]
        peak_tflops: Option<f64>,
        /// CPU: the weight formats to measure, e.g. f32,bf16,f16.
        #[arg(long, value_delimiter = ',', default_value = "f32,bf16")]
        weights: Vec<WeightFormat>,
        /// CPU: steps timed per measurement.
        #[arg(long, default_value_t = 50)]
        steps: usize,
        /// CPU: rounds of measurements (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// CPU: threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// CPU: also measure this many batches at once, each on its share of the threads, as
        /// `generate` runs them (default: one per thread).
        #[arg(long)]
        groups: Option<usize>,
        /// The PyTorch baseline script to compare with.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// The Python interpreter that has PyTorch, for --baseline.
        #[arg(long, default_value = "python3")]
        python: PathBuf,
        /// Steps the baseline times at each batch size.
        #[arg(long, default_value_t = 200)]
        baseline_steps: usize,
    },
    /// List the tensors of a model checkpoint (names, types, shapes and parameter counts), then
    /// check that every tensor is there and intact.
    ///
    /// Reads a TensorFlow checkpoint (its prefix, e.g. wavenet-ckpt/model.ckpt-200000, or its
    /// .index file) or a .safetensors file. After the listing it reads every tensor: its bytes
    /// must lie inside its data file and, in a TensorFlow checkpoint, match the checksum the
    /// index stores (safetensors files hold none, so there only sizes and byte ranges are
    /// checked). Exits 1 naming the first tensor found wrong and its bytes, e.g. after a
    /// truncated or damaged download.
    Inspect {
        /// The checkpoint.
        checkpoint: PathBuf,
        /// List only: do not read the tensors, so nothing beyond the index is checked.
        #[arg(long)]
        quick: bool,
    },
    /// Rewrite a checkpoint in the other format: TensorFlow to .safetensors or back.
    ///
    /// The output's format follows its name: a .safetensors file, or else a TensorFlow
    /// checkpoint prefix. By default only the model's variables are kept (the training state,
    /// i.e. moving averages, Adam slots and step counters, is left out); --all keeps everything.
    Convert {
        /// The checkpoint to read.
        from: PathBuf,
        /// Where to write it.
        to: PathBuf,
        /// Keep the training state too.
        #[arg(long)]
        all: bool,
    },
}

/// Where the model comes from and where it runs.
#[derive(Debug, clap::Args)]
struct ModelArgs {
    /// The NSynth checkpoint: a TensorFlow prefix (e.g. wavenet-ckpt/model.ckpt-200000), its
    /// .index file, or a .safetensors file.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    shape: ShapeArgs,
}

/// The model for the pipeline, or a stand-in.
#[derive(Debug, clap::Args)]
struct OptionalModelArgs {
    /// The NSynth checkpoint (as for `generate`).
    #[arg(long, required_unless_present = "dry_run")]
    checkpoint: Option<PathBuf>,
    /// Use sine tones instead of NSynth: checks a pad layout on the device in minutes. Writes in
    /// WORKDIR/dry-run, apart from a real run's outputs.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    shape: ShapeArgs,
}

#[derive(Debug, clap::Args)]
struct ShapeArgs {
    /// Layers per dilation cycle of the encoder. Read from the checkpoint where its layer count
    /// settles it (the released model's 30 layers: 10); needed where several cycles divide the
    /// count evenly, and an error where it does not fit.
    #[arg(long)]
    encoder_stages: Option<usize>,
    /// Layers per dilation cycle of the decoder, as --encoder-stages.
    #[arg(long)]
    decoder_stages: Option<usize>,
    /// Where the model runs: cpu (all cores, the default), cuda:N (GPU N), or cuda:all (every
    /// GPU). For `slurm` tasks that ask for GPUs the default is cuda:all.
    #[arg(long)]
    device: Option<String>,
    /// Several GPUs by number, e.g. 0,1,2,3: each takes the next batch as it finishes one.
    #[arg(long, value_name = "N,N,...")]
    devices: Option<String>,
    /// GPU arithmetic: tf32 (the default: tensor cores, float32 storage), bf16 (bfloat16
    /// weights and histories, half the memory) or fp32 (no tensor cores; the CPU's numbers to
    /// rounding). Not with --device cpu, which always computes in float32.
    #[arg(long)]
    precision: Option<Precision>,
    /// How the CPU stores the decoder's weights while generating: f32 (the default), or bf16
    /// or f16, half the memory and half the bytes read per step (faster at small batches),
    /// widened to float32 for the sums. The logits move by up to 5e-2 (bf16) or 1e-2 (f16)
    /// relative on the test model (see docs/performance.md); outputs made with one format are
    /// not taken for another's. Not with a GPU, whose --precision sets its arithmetic.
    #[arg(long)]
    weights: Option<WeightFormat>,
    /// CPU threads the model uses (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// CPU: most batches generated at once, each on its share of the threads (more scale better
    /// with the cores; each needs a batch's memory and a copy of the weights); fewer batches
    /// share all the threads. Default: as many as half the available memory holds, up to one
    /// per thread.
    #[arg(long)]
    groups: Option<usize>,
}

impl ModelArgs {
    /// The model, for generating batches of `batch` notes (`None` for commands that generate
    /// nothing).
    fn load(&self, batch: Option<usize>) -> anyhow::Result<NsynthSynthesizer> {
        self.shape.load(&self.checkpoint, batch)
    }

    /// The model flags of cluster tasks with `gpus_per_task` GPUs each.
    fn slurm_flags(&self, gpus_per_task: usize, run: &RunArgs) -> anyhow::Result<ModelFlags> {
        let device = self.shape.slurm_device(gpus_per_task);
        // Parsed only with a device's flag to check: `cuda:all` looks for GPUs.
        let shape = &self.shape;
        let device_flags =
            shape.precision.is_some() || shape.weights.is_some() || shape.groups.is_some();
        let on_cpu = device_flags && Placement::parse(&device, None) == Ok(Placement::Cpu);
        let precision = shape.precision_on(on_cpu)?;
        shape.check_cpu_flags(on_cpu)?;
        Ok(ModelFlags {
            checkpoint: self.checkpoint.clone(),
            encoder_stages: self.shape.encoder_stages,
            decoder_stages: self.shape.decoder_stages,
            device,
            precision: precision.map(|precision| precision.name().into()),
            weights: shape.weights.map(|weights| weights.name().into()),
            threads: self.shape.threads,
            groups: self.shape.groups,
            batch: run.batch,
            seed: run.seed,
            checkpoint_every: run.checkpoint_every,
        })
    }
}

impl OptionalModelArgs {
    /// The model, or the sine stand-in for a dry run.
    fn load(&self, batch: usize) -> anyhow::Result<Box<dyn Synthesizer>> {
        Ok(match &self.checkpoint {
            Some(checkpoint) if !self.dry_run => {
                Box::new(self.shape.load(checkpoint, Some(batch))?)
            }
            _ => Box::new(ToneSynthesizer::default()),
        })
    }
}

impl ShapeArgs {
    fn placement(&self) -> anyhow::Result<Placement> {
        let device = self.device.as_deref().unwrap_or("cpu");
        Placement::parse(device, self.devices.as_deref()).map_err(anyhow::Error::msg)
    }

    fn load(&self, checkpoint: &Path, batch: Option<usize>) -> anyhow::Result<NsynthSynthesizer> {
        let stages = GivenStages {
            encoder: self.encoder_stages,
            decoder: self.decoder_stages,
        };
        let placement = self.placement()?;
        let precision = self.precision_on(placement == Placement::Cpu)?;
        self.check_cpu_flags(placement == Placement::Cpu)?;
        use_threads(self.threads)?;
        let cpu = CpuChoice {
            weights: self.weights.unwrap_or_default(),
            groups: self.groups.or(batch.is_none().then_some(1)),
            batch: batch.unwrap_or(1),
        };
        NsynthSynthesizer::open_on(
            checkpoint,
            stages,
            &placement,
            precision.unwrap_or_default(),
            cpu,
        )
    }

    /// `--weights` and `--groups` refused when the model runs on GPUs (not `on_cpu`), which would
    /// ignore them; no threads or groups refused everywhere.
    fn check_cpu_flags(&self, on_cpu: bool) -> anyhow::Result<()> {
        if let (Some(weights), false) = (self.weights, on_cpu) {
            anyhow::bail!(
                "--weights {} is for the CPU, and the model would run on GPUs: use --precision \
                 bf16 there for bfloat16 weights",
                weights.name()
            );
        }
        anyhow::ensure!(
            self.groups.is_none() || on_cpu,
            "--groups is for the CPU, and the model would run on GPUs, one batch per GPU"
        );
        anyhow::ensure!(self.groups != Some(0), "--groups must be at least 1");
        // Its most per core is checked where the threads start: a cluster task's machine is
        // not the one that writes its script.
        anyhow::ensure!(self.threads != Some(0), "--threads must be at least 1");
        Ok(())
    }

    /// `--precision` as given, refused when the model runs on the CPU (`on_cpu`), which would
    /// ignore it.
    fn precision_on(&self, on_cpu: bool) -> anyhow::Result<Option<Precision>> {
        match self.precision {
            Some(precision) if on_cpu => anyhow::bail!(
                "--precision {} is for GPUs, and the model would run on the CPU, which always \
                 computes in float32: leave --precision out, or choose a GPU with --device",
                precision.name()
            ),
            precision => Ok(precision),
        }
    }

    /// The `--device` of cluster tasks: the one named, else every GPU of the task's allocation
    /// (SLURM numbers them from 0 for each task) when GPUs are asked for or listed, else the
    /// CPU.
    fn slurm_device(&self, gpus_per_task: usize) -> String {
        match (&self.device, &self.devices) {
            (Some(device), None) => device.clone(),
            (_, Some(_)) => "cuda:all".into(),
            (None, None) if gpus_per_task > 0 => "cuda:all".into(),
            (None, None) => "cpu".into(),
        }
    }
}

/// `--estimate` of the commands that generate.
#[derive(Debug, clap::Args)]
struct EstimateArg {
    /// Print only what the run would cost (the notes and samples still to generate, and the
    /// time at the speed measured on a few steps of the model where it would run), then exit.
    #[arg(long)]
    estimate: bool,
}

/// Batching, seeding and checkpoints of generation.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Notes generated together (more uses the cores better and needs more memory: about 13 MB
    /// per note with the released model).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seconds between saves of the partial audio of a batch.
    #[arg(long, default_value_t = 300)]
    checkpoint_every: u64,
}

impl RunArgs {
    fn options(&self, force: bool) -> GenerateOptions {
        GenerateOptions {
            batch_size: self.batch.max(1),
            checkpoint_interval: Duration::from_secs(self.checkpoint_every),
            force,
            expected_rate: None,
        }
    }
}

/// Threads per core `--threads` may ask for: more only waste time starting them.
const MOST_THREADS_PER_CORE: usize = 16;

/// `--threads` for this machine: at least 1, and at most [`MOST_THREADS_PER_CORE`] per core.
fn check_threads(threads: Option<usize>) -> anyhow::Result<()> {
    let Some(threads) = threads else {
        return Ok(());
    };
    anyhow::ensure!(threads > 0, "--threads must be at least 1");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let most = MOST_THREADS_PER_CORE * cores;
    anyhow::ensure!(
        threads <= most,
        "--threads {threads}: at most {most} on this machine's {cores} cores \
         ({MOST_THREADS_PER_CORE} per core)"
    );
    Ok(())
}

/// Sizes rayon's pool, which runs every CPU product, to `threads` (`--threads`, checked for
/// this machine); its default is one thread per core.
fn use_threads(threads: Option<usize>) -> anyhow::Result<()> {
    check_threads(threads)?;
    let Some(threads) = threads else {
        return Ok(());
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("cannot start the CPU threads")
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let progress = Progress::stderr();
    match cli.command {
        Command::Encode {
            model,
            input,
            out,
            force,
            strict,
        } => commands::encode::run(&model.load(None)?, &input, &out, force, strict, &progress),
        Command::Logits {
            model,
            audio,
            encoding,
            out,
        } => {
            check_output(&out, &[&audio, &encoding, &model.checkpoint])?;
            commands::logits::run(&model.load(None)?, &audio, &encoding, &out)
        }
        Command::Generate {
            model,
            embeddings,
            out,
            run,
            shard,
            force,
            estimate,
        } => commands::generate::run(
            &model.load(Some(run.batch))?,
            &embeddings,
            &out,
            &run.options(force),
            run.seed,
            shard,
            estimate.estimate,
            &progress,
        ),
        Command::Pipeline {
            config,
            workdir,
            model,
            run,
            shard,
            force,
            strict,
            estimate,
        } => {
            let options = PipelineOptions {
                generate: run.options(force),
                seed: run.seed,
                shard,
                strict,
            };
            commands::pipeline::run(
                &config,
                &workdir,
                &*model.load(run.batch)?,
                &options,
                estimate.estimate,
                &progress,
            )
        }
        Command::Grains {
            model,
            a,
            b,
            count,
            grain_length,
            seed,
            out,
        } => {
            check_output(&out, &[&a, &b, &model.checkpoint])?;
            let options = GrainOptions {
                count,
                grain_length,
                seed,
            };
            commands::grains::run(&model.load(Some(count))?, &a, &b, &options, &out, &progress)
        }
        Command::Slurm {
            workdir,
            tasks,
            gpus_per_task,
            config,
            embeddings,
            out,
            model,
            run,
            partition,
            time,
            cpus_per_task,
            mem,
        } => {
            let work = match (config, embeddings, out) {
                (Some(config), None, None) => SlurmWork::Pipeline { config },
                (None, Some(embeddings), Some(out)) => SlurmWork::Generate { embeddings, out },
                _ => anyhow::bail!("give either --config, or --embeddings and --out"),
            };
            let resources = Resources {
                gpus_per_task,
                cpus_per_task,
                mem,
                time,
                partition,
            };
            let flags = model.slurm_flags(gpus_per_task, &run)?;
            commands::slurm::run(&workdir, tasks, work, flags, resources)
        }
        Command::Bench {
            device,
            precision,
            batches,
            frames,
            peak_tflops,
            weights,
            steps,
            rounds,
            threads,
            groups,
            baseline,
            python,
            baseline_steps,
        } => {
            check_threads(threads)?;
            anyhow::ensure!(groups != Some(0), "--groups must be at least 1");
            commands::bench::run(&BenchOptions {
                device: &device,
                batches: batches.as_deref(),
                precision,
                frames,
                peak_tflops,
                weights: &weights,
                steps,
                rounds,
                threads,
                groups,
                baseline: baseline.as_deref(),
                python: &python,
                baseline_steps,
            })
        }
        Command::Inspect { checkpoint, quick } => commands::inspect::run(&checkpoint, quick),
        Command::Convert { from, to, all } => {
            check_output(&to, &[&from])?;
            commands::convert::run(&from, &to, all)
        }
        Command::Pads { settings } => commands::pads::run(&settings),
    }
}
