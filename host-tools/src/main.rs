//! `host-tools`: the Open NSynth Super pad factory's command line. Parsing and printing only;
//! the work happens in the `host_tools` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect { checkpoint } => {
            host_tools::checkpoint::cli::inspect(&checkpoint, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
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
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
