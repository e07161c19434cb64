//! `host-tools`: the Open NSynth Super pad factory. For now it checks a pad folder against a
//! device settings file; generation from recordings comes with the NSynth model.

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
