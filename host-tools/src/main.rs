//! The `host-tools` binary: parses the command line and reports errors; see `cli`.

use std::process::ExitCode;

use clap::Parser;
use open_nsynth::logging::{self, Timestamps};

fn main() -> ExitCode {
    logging::init_quieting(Timestamps::Include, &host_tools::audio::QUIET_LIBRARIES);
    match host_tools::cli::run(host_tools::cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
