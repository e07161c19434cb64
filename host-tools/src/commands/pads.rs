//! `host-tools pads`: every pad a device settings file can select, whether it is there at the
//! right size, and a failing exit code when one is not.

use std::path::Path;
use std::process::ExitCode;

use open_nsynth::pad::{inventory, PadState};
use open_nsynth::settings::Settings;

/// Lists the pads of the settings file `settings`, one line each, then a count.
pub fn run(settings: &Path) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_file(settings)?;
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
    Ok(if bad > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
