//! `host-tools`: the Open NSynth Super pad factory's command line. Parsing and printing only;
//! the work happens in the `host_tools` library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use host_tools::commands::{self, GrainOptions};
use host_tools::cuda::{Placement, Precision};
use host_tools::model::Stages;
use host_tools::pipeline::{GenerateOptions, PipelineOptions, Shard, ShardSpec};
use host_tools::progress::Progress;
use host_tools::slurm::{shell_quote, ModelFlags, Resources, SlurmJob, SlurmWork};
use host_tools::synth::{NsynthSynthesizer, Synthesizer, ToneSynthesizer};
use open_nsynth::logging::{self, Timestamps};
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
    /// Benchmark NSynth generation on a GPU with the released model's shape (random weights).
    ///
    /// For each batch size, times whole frames of generation (conditioning and 512 steps) with
    /// CUDA events after a warm-up frame, and prints samples per second, 4-second notes per
    /// hour, the TFLOP/s reached (Magenta's count of 59 741 696 multiply-adds per sample),
    /// its share of the GPU's dense peak, and the device memory in use. With --baseline, runs
    /// the PyTorch step-by-step baseline (host-tools/bench/fastgen_torch.py) on the same GPU
    /// afterwards and prints the speed-up at each batch size.
    Bench {
        /// The GPU to measure.
        #[arg(long, default_value = "cuda:0")]
        device: String,
        /// GPU arithmetic (tf32, bf16 or fp32).
        #[arg(long, default_value = "tf32")]
        precision: Precision,
        /// Batch sizes; `max` is the largest that fits in the GPU's free memory.
        #[arg(long, default_value = "1,64,512,max")]
        batches: String,
        /// Frames of 512 steps timed at each batch size.
        #[arg(long, default_value_t = 2)]
        frames: usize,
        /// The GPU's dense peak TFLOP/s for this precision (known for H100 and H200).
        #[arg(long)]
        peak_tflops: Option<f64>,
        /// The PyTorch baseline script to compare with.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Steps the baseline times at each batch size.
        #[arg(long, default_value_t = 200)]
        baseline_steps: usize,
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
    /// Where the model runs: cpu (all cores, the default), cuda:N (GPU N), or cuda:all (every
    /// GPU). For `slurm` tasks that ask for GPUs the default is cuda:all.
    #[arg(long)]
    device: Option<String>,
    /// Several GPUs by number, e.g. 0,1,2,3: each takes the next batch as it finishes one.
    #[arg(long, value_name = "N,N,...")]
    devices: Option<String>,
    /// GPU arithmetic: tf32 (tensor cores, float32 storage), bf16 (bfloat16 weights and
    /// histories, half the memory) or fp32 (no tensor cores; the CPU's numbers to rounding).
    #[arg(long, default_value = "tf32")]
    precision: Precision,
}

impl ShapeArgs {
    fn placement(&self) -> anyhow::Result<Placement> {
        let device = self.device.as_deref().unwrap_or("cpu");
        Placement::parse(device, self.devices.as_deref()).map_err(anyhow::Error::msg)
    }

    fn load(&self, checkpoint: &Path) -> anyhow::Result<NsynthSynthesizer> {
        let stages = Stages {
            encoder: self.encoder_stages,
            decoder: self.decoder_stages,
        };
        NsynthSynthesizer::open_on(checkpoint, stages, &self.placement()?, self.precision)
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
    logging::init(Timestamps::Include);
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `--device` of cluster tasks: the one named, else every GPU of the task's allocation
/// (SLURM numbers them from 0 for each task) when GPUs are asked for or listed, else the CPU.
fn slurm_device(shape: &ShapeArgs, gpus_per_task: usize) -> String {
    match (&shape.device, &shape.devices) {
        (Some(device), None) => device.clone(),
        (_, Some(_)) => "cuda:all".into(),
        (None, None) if gpus_per_task > 0 => "cuda:all".into(),
        (None, None) => "cpu".into(),
    }
}

/// `host-tools bench`: measures each batch size and prints one line each.
fn bench(
    device: &str,
    precision: Precision,
    batches: &str,
    frames: usize,
    peak_tflops: Option<f64>,
    baseline: Option<&Path>,
    baseline_steps: usize,
) -> anyhow::Result<()> {
    use host_tools::cuda::bench::{
        batch_sizes, dense_peak_tflops, largest_batch, measure, run_baseline, Measurement,
    };
    use host_tools::cuda::{CudaDevice, DecoderWeights};
    use host_tools::model::{Generator, Model, ModelShape, RandomWeights};

    let Placement::Cuda(ordinals) = Placement::parse(device, None).map_err(anyhow::Error::msg)?
    else {
        anyhow::bail!("--device {device}: the benchmark measures a GPU (cuda:N)");
    };
    let mut gpu = CudaDevice::open(ordinals[0])?;
    let shape = ModelShape::magenta();
    let model = Model::load(&RandomWeights::new(shape.clone(), 1), Stages::MAGENTA)?;
    let weights = DecoderWeights::upload(&mut gpu, &model, precision)?;
    let peak = peak_tflops.or_else(|| dense_peak_tflops(gpu.label(), precision));
    let (free, _) = gpu.memory()?;
    let sizes =
        batch_sizes(batches, largest_batch(free, &shape, precision)).map_err(anyhow::Error::msg)?;
    let graph_macs = Generator::graph_macs_per_step(&shape);
    println!(
        "bench device={} precision={} model=h512_bo16 (random weights) frames={frames} \
         macs_per_sample={graph_macs} (executed {})",
        gpu.label(),
        precision.name(),
        Generator::macs_per_step(&shape)
    );
    let mut measured: Vec<Measurement> = Vec::new();
    for &batch in &sizes {
        match measure(&mut gpu, &weights, batch, frames.max(1)) {
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
                    m.memory_bytes as f64 / f64::from(1u32 << 30)
                );
                measured.push(m);
            }
            Err(error) => println!("bench batch={batch} failed: {error}"),
        }
    }
    if let Some(script) = baseline {
        drop(weights);
        drop(gpu);
        let dtype = match precision {
            Precision::Bf16 => "bfloat16",
            Precision::Tf32 => "tf32",
            Precision::Fp32 => "float32",
        };
        let (header, speeds) = run_baseline(script, ordinals[0], &sizes, baseline_steps, dtype)?;
        println!("{header}");
        for m in &measured {
            match speeds.iter().find(|(batch, _)| *batch == m.batch) {
                Some((batch, speed)) => println!(
                    "speedup batch={batch} ours={:.0} baseline={speed:.0} ratio={:.1}",
                    m.samples_per_second(),
                    m.samples_per_second() / speed
                ),
                None => println!("speedup batch={} baseline=none", m.batch),
            }
        }
    }
    Ok(())
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
            open_nsynth::atomic::check_output(&out, &[&audio, &encoding, &model.checkpoint])?;
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
            open_nsynth::atomic::check_output(&out, &[&a, &b, &model.checkpoint])?;
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
                    device: slurm_device(&model.shape, gpus_per_task),
                    precision: model.shape.precision.name().into(),
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
        Command::Bench {
            device,
            precision,
            batches,
            frames,
            peak_tflops,
            baseline,
            baseline_steps,
        } => bench(
            &device,
            precision,
            &batches,
            frames,
            peak_tflops,
            baseline.as_deref(),
            baseline_steps,
        )?,
        Command::Inspect { checkpoint } => {
            host_tools::checkpoint::cli::inspect(&checkpoint, &mut std::io::stdout().lock())?;
        }
        Command::Convert { from, to, all } => {
            open_nsynth::atomic::check_output(&to, &[&from])?;
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
