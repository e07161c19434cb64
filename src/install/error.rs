//! `InstallError`: every way an install can be refused or fail, each naming the file or folder
//! and what was expected of it, with a hint to use sudo when the card's files are root's. It never
//! decides when to fail.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::pad::PadState;
use crate::settings::SettingsError;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{root} does not look like a Raspberry Pi OS root file system: {problem}")]
    NotARoot { root: PathBuf, problem: String },
    #[error(
        "cannot find the boot partition: no folder with config.txt and cmdline.txt among {}; \
         mount the card's boot partition (called bootfs or boot) and pass its folder with --boot",
        list_paths(tried)
    )]
    BootNotFound { tried: Vec<PathBuf> },
    #[error("{path} is not a Raspberry Pi boot partition: it has no {missing}")]
    NotABootPartition {
        path: PathBuf,
        missing: &'static str,
    },
    #[error(
        "board `{board}` has no [boot] section, so there is nothing to install for it; pick the \
         board of the Pi that will run the card"
    )]
    NothingToInstall { board: String },
    #[error(
        "`{user}` is not a Linux user name (up to 32 lower-case letters, digits, `-` and `_`, \
         starting with a letter or `_`)"
    )]
    UserName { user: String },
    #[error("{path}: {problem}")]
    Program { path: PathBuf, problem: String },
    #[error(
        "{path}: {state}; the pads must match the layout (nsynth.resolution, pitches and length) \
         of {settings}, the settings in force on the card"
    )]
    PadSize {
        path: PathBuf,
        state: PadState,
        settings: PathBuf,
    },
    #[error(
        "{path}: no choice of corner instruments in {settings} selects a pad of this name, so it \
         would never play; pads are named after their four corners, like {example}"
    )]
    PadName {
        path: PathBuf,
        settings: PathBuf,
        example: String,
    },
    #[error("{dir} holds no .bin pads; pass the folder the pads were made in")]
    NoPads { dir: PathBuf },
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(
        "{binary} needs the GNU C library {needed} or later, and the card has {has} ({library}): \
         flash a current Raspberry Pi OS (Bookworm or later), or build the program on a system \
         as old as the card's"
    )]
    OldLibc {
        binary: PathBuf,
        needed: super::Glibc,
        library: PathBuf,
        has: super::Glibc,
    },
    #[error(transparent)]
    Disk(#[from] crate::disk::DiskError),
    #[error(
        "cannot find the card's disk from {root}: {problem}; pass the card's device (like \
         /dev/sdb) with --disk"
    )]
    NoDisk { root: PathBuf, problem: String },
    #[error(
        "{path}, line {line}: {problem}; repair or delete the open-nsynth block and install again"
    )]
    Block {
        path: PathBuf,
        line: usize,
        problem: &'static str,
    },
    #[error("cannot {action} {path}: {cause}{}", permission_hint(cause))]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    shown.join(", ")
}

fn permission_hint(error: &std::io::Error) -> &'static str {
    if error.kind() == ErrorKind::PermissionDenied {
        " (the card's system files belong to root: run the install with sudo)"
    } else {
        ""
    }
}

/// Turns an I/O error while doing `action` to `path` into an [`InstallError::Io`].
pub(super) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |cause| InstallError::Io {
        action,
        path,
        cause,
    }
}
