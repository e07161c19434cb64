//! The `open-nsynth` binary: parses the command line and reports errors; see `cli`.

use std::process::ExitCode;

use clap::Parser;
use open_nsynth::logging::{self, Timestamps};

fn main() -> ExitCode {
    logging::init(Timestamps::Omit);
    logging::route_alsa_errors();
    match open_nsynth::cli::run(open_nsynth::cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
