//! `host-tools`: the Open NSynth Super pad factory. For now it checks a pad folder against a
//! device settings file; generation from recordings comes with the NSynth model.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use open_nsynth::pad::{pad_file_name, PadLayout};
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
            let layout = &settings.pad.layout;
            let mut bad = 0;
            let names = every_pad(&settings);
            for name in &names {
                let path = settings.pad.data_directory.join(name);
                let state = pad_state(&path, layout);
                if state != "ok" {
                    bad += 1;
                }
                println!("{state:<40} {}", path.display());
            }
            println!(
                "{} pads, {} ok, {bad} missing or wrong",
                names.len(),
                names.len() - bad
            );
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Every combination of one instrument per corner, as pad file names.
fn every_pad(settings: &Settings) -> Vec<String> {
    let mut names = Vec::new();
    let [a, b, c, d] = &settings.corners;
    for i0 in a {
        for i1 in b {
            for i2 in c {
                for i3 in d {
                    names.push(pad_file_name(&[&i0.name, &i1.name, &i2.name, &i3.name]));
                }
            }
        }
    }
    names
}

fn pad_state(path: &std::path::Path, layout: &PadLayout) -> String {
    match std::fs::metadata(path) {
        Err(_) => "missing".into(),
        Ok(meta) if meta.len() != layout.file_bytes() => {
            format!(
                "wrong size: {} of {} bytes",
                meta.len(),
                layout.file_bytes()
            )
        }
        Ok(_) => "ok".into(),
    }
}
