//! The `host-tools` binary: parses the command line, ends cleanly on SIGINT and SIGTERM, and
//! reports errors; see `cli`.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;
use open_nsynth::logging::{self, Timestamps};
use open_nsynth::{atomic, stop};

fn main() -> ExitCode {
    logging::init_quieting(Timestamps::Include, &host_tools::audio::QUIET_LIBRARIES);
    if let Err(error) = stop::exit_on_signal(stopped) {
        tracing::warn!("cannot handle SIGINT and SIGTERM ({error}): they end host-tools abruptly");
    }
    match host_tools::cli::run(host_tools::cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// At a signal: the files being written are removed, so no half-written file is left where the
/// finished ones go, and the next run makes them again.
fn stopped() {
    let removed = atomic::remove_unfinished().len();
    // On a terminal, off the line of a progress bar.
    let line_break = if std::io::stderr().is_terminal() {
        "\n"
    } else {
        ""
    };
    eprintln!(
        "{line_break}error: {}; {removed} unfinished {} removed, run the command again to go on",
        stop::Stopped,
        if removed == 1 { "file" } else { "files" }
    );
}
