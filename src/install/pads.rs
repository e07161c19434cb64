//! The pads: which settings will be in force on the card (its own, else those being installed),
//! the checks a folder of pads passes before anything is written (each `.bin` a pad of the
//! layout's size with a name the corners can select), their copy into the data directory as the
//! Pi resolves it, and the report's pads line. It never replaces the settings.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::card::Card;
use super::error::{io_error, InstallError};
use super::report::PadsLine;
use crate::atomic::Mode;
use crate::pad::{inventory, pad_state, PadEntry, PadState};
use crate::settings::Settings;

/// What to do about the pads: the settings in force, with their paths resolved on the card, and
/// with `--pads` the checked pads to copy.
pub(super) struct Plan {
    settings: Settings,
    pads: Option<Vec<PathBuf>>,
}

/// Checks the pads in `dir`, if any, against the settings that will be in force: the card's own
/// at `on_card` when it has them (install never replaces them), else `given_text` (read from
/// `given`) as it will be installed there. `None` when the card's own settings are broken and
/// there are no pads to check: that is only reported (see `Card::put_settings`).
pub(super) fn plan(
    on_card: &Path,
    given: &Path,
    given_text: &str,
    dir: Option<&Path>,
) -> Result<Option<Plan>, InstallError> {
    let in_force = settings_in_force(on_card, given, given_text);
    let Some(dir) = dir else {
        return Ok(in_force.ok().map(|(settings, _)| Plan {
            settings,
            pads: None,
        }));
    };
    let (settings, file) = in_force?;
    let pads = check(dir, &settings, &file)?;
    Ok(Some(Plan {
        settings,
        pads: Some(pads),
    }))
}

/// The settings in force and the file they came from.
fn settings_in_force(
    on_card: &Path,
    given: &Path,
    given_text: &str,
) -> Result<(Settings, PathBuf), InstallError> {
    let (text, file) = match fs::read_to_string(on_card) {
        Ok(text) => (text, on_card),
        Err(error) if error.kind() == ErrorKind::NotFound => (given_text.to_owned(), given),
        Err(error) => return Err(io_error("read", on_card)(error)),
    };
    // Anchored where the file is on the card, so relative paths resolve as on the Pi.
    let settings = Settings::from_json(&text, on_card)?;
    Ok((settings, file.to_path_buf()))
}

/// The `.bin` files in `dir`, by name, each checked against `settings` (read from `file`): a pad
/// of their layout's size that the corners can select. Nothing is written.
fn check(dir: &Path, settings: &Settings, file: &Path) -> Result<Vec<PathBuf>, InstallError> {
    let entries = fs::read_dir(dir).map_err(io_error("read folder", dir))?;
    let mut pads = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error("read folder", dir))?.path();
        if path.extension().is_some_and(|ext| ext == "bin") && path.is_file() {
            pads.push(path);
        }
    }
    pads.sort();
    let selectable = inventory(settings);
    for pad in &pads {
        let state = pad_state(pad, &settings.pad.layout);
        if state != PadState::Present {
            return Err(InstallError::PadSize {
                path: pad.clone(),
                state,
                settings: file.to_path_buf(),
            });
        }
        if !selectable
            .iter()
            .any(|entry| entry.path.file_name() == pad.file_name())
        {
            return Err(InstallError::PadName {
                path: pad.clone(),
                settings: file.to_path_buf(),
                example: selectable.first().map(file_name).unwrap_or_default(),
            });
        }
    }
    if pads.is_empty() {
        return Err(InstallError::NoPads {
            dir: dir.to_path_buf(),
        });
    }
    Ok(pads)
}

impl Plan {
    /// The checked pads to copy, with `--pads`.
    pub(super) fn files(&self) -> Option<&[PathBuf]> {
        self.pads.as_deref()
    }
}

/// The folders on the Pi of the pads and of the patch file, as the settings in force say.
pub(super) fn folders(card: &Card, plan: &Plan) -> Vec<PathBuf> {
    let settings = &plan.settings;
    let patches = settings.patch_file.parent().unwrap_or(Path::new("/"));
    vec![
        card.on_pi(&settings.pad.data_directory),
        card.on_pi(patches),
    ]
}

/// Copies the checked `pads` into the data directory on the card, readable by every user (so by
/// the service's), or, without pads, counts those the settings select that are already there.
pub(super) fn put(card: &mut Card, plan: &Plan) -> Result<(), InstallError> {
    let settings = &plan.settings;
    let folder = card.on_pi(&settings.pad.data_directory);
    let on_card = card.on_card(&settings.pad.data_directory);
    let line = match &plan.pads {
        Some(pads) => {
            fs::create_dir_all(&on_card).map_err(io_error("create folder", &on_card))?;
            let mut copied = 0;
            for pad in pads {
                let name = pad.file_name().expect("a pad found in a folder has a name");
                if card.copy(pad, &on_card.join(name), Mode::Exact(0o644))? {
                    copied += 1;
                }
            }
            PadsLine::Copied {
                folder,
                copied,
                unchanged: pads.len() - copied,
            }
        }
        None => {
            let mut on_the_card = settings.clone();
            on_the_card.pad.data_directory = on_card;
            let selectable = inventory(&on_the_card);
            PadsLine::Expected {
                folder,
                present: selectable
                    .iter()
                    .filter(|entry| entry.state == PadState::Present)
                    .count(),
                selectable: selectable.len(),
            }
        }
    };
    card.pads(line);
    Ok(())
}

fn file_name(entry: &PadEntry) -> String {
    entry
        .path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
