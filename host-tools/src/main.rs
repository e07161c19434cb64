//! `host-tools`: the Open NSynth Super pad factory's command line. Parsing and printing only;
//! the work happens in the `host_tools` library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use host_tools::commands::{self, GrainOptions};
use host_tools::model::Stages;
use host_tools::pipeline::{
    GenerateOptions, NsynthSynthesizer, PipelineOptions, Progress, Synthesizer, ToneSynthesizer,
};
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
    /// first 4 s cut to whole 512-sample frames, and writes OUT/<name>_embeddings.npy. Finished
    /// files are overwritten; every file is written under a temporary name first.
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
    /// gives the same audio for each file, however the files are batched.
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
    },
    /// The whole Open NSynth Super pipeline: recordings to pads and a device settings.json.
    ///
    /// Reads the original pipeline's settings file (pads NW/NE/SW/SE, pitches, resolution,
    /// final_length, gpus) and recordings named <instrument>_<pitch>.wav next to it (in its
    /// `audio_input` folder), then encodes, interpolates the grid, generates, cleans and builds
    /// the pads in WORKDIR. Every step is resumable. With --gpus N in the settings, run each
    /// shard with --shard K (0..N-1), e.g. one per GPU or cluster job; the last shard to finish
    /// builds the pads.
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
        /// Only this shard of the generation (0-based).
        #[arg(long)]
        shard: Option<usize>,
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
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let progress = Progress::terminal();
    match cli.command {
        Command::Encode { model, input, out } => {
            let synth = model.shape.load(&model.checkpoint)?;
            let written = commands::encode(&synth, &input, &out, &progress)?;
            println!("wrote {} embeddings to {}", written.len(), out.display());
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
        } => {
            let synth = model.shape.load(&model.checkpoint)?;
            let made = commands::generate(
                &synth,
                &embeddings,
                &out,
                &run.options(),
                run.seed,
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
