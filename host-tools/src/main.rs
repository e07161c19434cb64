//! `host-tools`: the Open NSynth Super pad factory's command line. Parsing and printing only;
//! the work happens in the `host_tools` library.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use host_tools::commands::{self, GrainOptions};
use host_tools::model::Stages;
use host_tools::pipeline::{
    GenerateOptions, NsynthSynthesizer, PipelineOptions, Progress, Shard, ShardSpec, Synthesizer,
    ToneSynthesizer,
};
use host_tools::slurm::{shell_quote, ModelFlags, Resources, SlurmJob, SlurmWork};
use open_nsynth::pad::{inventory, PadState};
use open_nsynth::settings::Settings;

/// Makes and checks pads for the Open NSynth Super.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
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
    /// first 4 s cut to whole 512-sample frames, and writes OUT/<name>_embeddings.npy. Resumable:
    /// every file is written under a temporary name first, so an embedding already in OUT is
    /// complete and is skipped (delete it to encode its recording again).
    Encode {
        #[command(flatten)]
        model: ModelArgs,
        /// A recording, or a folder of them.
        #[arg(long)]
        input: PathBuf,
        /// Folder for the embeddings.
        #[arg(long)]
        out: PathBuf,
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
    /// Writes OUT/gen_<name>.wav for each .npy (one file or a folder). Resumable: finished WAVs
    /// are skipped, and a killed run continues from the partial audio it saved. The same seed
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
    },
    /// The whole Open NSynth Super pipeline: recordings to pads and a device settings.json.
    ///
    /// Reads the original pipeline's settings file (pads NW/NE/SW/SE, pitches, resolution,
    /// final_length, gpus) and recordings named <instrument>_<pitch>.wav next to it (in its
    /// `audio_input` folder), then encodes, interpolates the grid, generates, cleans and builds
    /// the pads in WORKDIR. Every step is resumable. To share the work, run every shard K/N
    /// (K = 0..N-1) with --shard K/N, e.g. one per GPU or cluster task, or --shard K alone for N
    /// from the settings' `gpus`; the last shard to finish builds the pads.
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
        /// Time limit of each task, e.g. 24:00:00.
        #[arg(long)]
        time: Option<String>,
        /// CPU cores of each task.
        #[arg(long)]
        cpus_per_task: Option<usize>,
        /// Memory of each task, e.g. 32G.
        #[arg(long)]
        mem: Option<String>,
    },
    /// List the tensors of a model checkpoint: names, types, shapes and parameter counts.
    ///
    /// Reads a TensorFlow checkpoint (its prefix, e.g. wavenet-ckpt/model.ckpt-200000, or its
    /// .index file) or a .safetensors file, checking every block checksum on the way.
    Inspect {
        /// The checkpoint.
        checkpoint: PathBuf,
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
    /// Use sine tones instead of NSynth: checks a pad layout on the device in minutes.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    shape: ShapeArgs,
}

#[derive(Debug, clap::Args)]
struct ShapeArgs {
    /// Layers per dilation cycle of the encoder (10 in the released model).
    #[arg(long, default_value_t = host_tools::model::MAGENTA_STAGES)]
    encoder_stages: usize,
    /// Layers per dilation cycle of the decoder (10 in the released model).
    #[arg(long, default_value_t = host_tools::model::MAGENTA_STAGES)]
    decoder_stages: usize,
    /// Where the model runs: cpu (all cores) or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

impl ShapeArgs {
    fn load(&self, checkpoint: &Path) -> anyhow::Result<NsynthSynthesizer> {
        if self.device != "cpu" {
            anyhow::bail!(
                "--device {}: this build of host-tools runs the model on the CPU only; use \
                 --device cpu",
                self.device
            );
        }
        let stages = Stages {
            encoder: self.encoder_stages,
            decoder: self.decoder_stages,
        };
        NsynthSynthesizer::open(checkpoint, stages)
    }
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
    fn options(&self) -> GenerateOptions {
        GenerateOptions {
            batch_size: self.batch.max(1),
            checkpoint_interval: Duration::from_secs(self.checkpoint_every),
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Cluster tasks log to files, where colour codes are noise.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `path` from the current folder, for scripts that run elsewhere.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let progress = Progress::terminal();
    match cli.command {
        Command::Encode { model, input, out } => {
            let synth = model.shape.load(&model.checkpoint)?;
            let report = commands::encode(&synth, &input, &out, &progress)?;
            println!(
                "wrote {} embeddings to {} ({} already there)",
                report.written.len(),
                out.display(),
                report.skipped
            );
        }
        Command::Logits {
            model,
            audio,
            encoding,
            out,
        } => {
            let synth = model.shape.load(&model.checkpoint)?;
            let [rows, classes] = commands::logits(&synth, &audio, &encoding, &out)?;
            println!("wrote {} ([{rows}, {classes}])", out.display());
        }
        Command::Generate {
            model,
            embeddings,
            out,
            run,
            shard,
        } => {
            let synth = model.shape.load(&model.checkpoint)?;
            let made = commands::generate(
                &synth,
                &embeddings,
                &out,
                &run.options(),
                run.seed,
                shard,
                &progress,
            )?;
            println!("generated {made} files into {}", out.display());
        }
        Command::Pipeline {
            config,
            workdir,
            model,
            run,
            shard,
        } => {
            let synth: Box<dyn Synthesizer> = match &model.checkpoint {
                Some(checkpoint) if !model.dry_run => Box::new(model.shape.load(checkpoint)?),
                _ => Box::new(ToneSynthesizer::default()),
            };
            let options = PipelineOptions {
                generate: run.options(),
                seed: run.seed,
                shard,
            };
            let report = commands::pipeline(&config, &workdir, &*synth, &options, &progress)?;
            println!(
                "{} sounds: {} generated, {} cleaned; {} pads written to {}",
                report.sounds,
                report.generated,
                report.cleaned,
                report.pads_written,
                report.pads_dir.display()
            );
            if !report.complete {
                println!("other shards are still to run before every pad can be built");
            }
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
            let synth = model.shape.load(&model.checkpoint)?;
            let options = GrainOptions {
                count,
                grain_length,
                seed,
            };
            commands::grains(&synth, &a, &b, &options, &out, &progress)?;
            println!("wrote {} ([{count}, {grain_length}])", out.display());
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
                (Some(config), None, None) => SlurmWork::Pipeline {
                    config: absolute(&config)?,
                },
                (None, Some(embeddings), Some(out)) => SlurmWork::Generate {
                    embeddings: absolute(&embeddings)?,
                    out: absolute(&out)?,
                },
                _ => anyhow::bail!("give either --config, or --embeddings and --out"),
            };
            let job = SlurmJob {
                program: std::env::current_exe()
                    .context("cannot find the path of this host-tools program")?,
                workdir: absolute(&workdir)?,
                tasks,
                work,
                model: ModelFlags {
                    checkpoint: absolute(&model.checkpoint)?,
                    encoder_stages: model.shape.encoder_stages,
                    decoder_stages: model.shape.decoder_stages,
                    device: model.shape.device,
                    batch: run.batch,
                    seed: run.seed,
                    checkpoint_every: run.checkpoint_every,
                },
                resources: Resources {
                    gpus_per_task,
                    cpus_per_task,
                    mem,
                    time,
                    partition,
                },
            };
            let script = commands::slurm(&job)?;
            println!("wrote {}; submit it with:", script.display());
            println!("sbatch {}", shell_quote(&script.to_string_lossy()));
        }
        Command::Inspect { checkpoint } => {
            host_tools::checkpoint::cli::inspect(&checkpoint, &mut std::io::stdout().lock())?;
        }
        Command::Convert { from, to, all } => {
            let report = host_tools::checkpoint::cli::convert(&from, &to, all)?;
            for file in &report.files {
                println!("wrote {}", file.display());
            }
            println!(
                "{} tensors, {} parameters; {} left out",
                report.written, report.parameters, report.skipped
            );
        }
        Command::Pads { settings } => {
            let settings = Settings::from_file(&settings)?;
            let pads = inventory(&settings);
            let bad = pads
                .iter()
                .filter(|pad| pad.state != PadState::Present)
                .count();
            for pad in &pads {
                println!("{:<40} {}", pad.state.to_string(), pad.path.display());
            }
            println!(
                "{} pads, {} ok, {bad} missing or wrong",
                pads.len(),
                pads.len() - bad
            );
            if bad > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
