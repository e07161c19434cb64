//! `open-nsynth install`: sets up a Raspberry Pi OS SD card, mounted on another computer (or the
//! running Pi, with `/` as the root), to play at boot: the program and settings under
//! `/opt/open-nsynth`, a systemd service started at boot, the `i2c-dev` module, no serial console
//! on the MIDI UART, and the board's `config.txt` lines in a marked block. Installing again
//! changes nothing; another board replaces the block. Pads given with `--pads` are checked
//! against the settings in force and copied into their data directory. Every file is replaced atomically.
//! With `--read-only` it sets up the read-only layout (see `read_only`): the overlay, the mount
//! lines, the user, and the pads and data partitions on the card's disk.
//! It never writes outside the given root and boot folders (and, for the read-only layout, the
//! space after the root partition), never replaces the user's settings or patches, and never
//! runs anything from the card.
//!
//! This module holds the steps in order; each concern lives in its own file: `partitions`
//! (finding the card's root and boot partitions and its disk), `arch` (the program's ELF
//! architecture), `accounts` (users and groups), `service` (the systemd unit), `boot_files`
//! (`/etc/modules`, `cmdline.txt`, `config.txt`), `libc` (the C library the program needs and
//! the card's), `read_only` (the read-only layout), `pads`
//! (checking and copying the pads), `card` (every write, and what it changed) and `report`.

mod accounts;
mod arch;
mod boot_files;
mod card;
mod error;
#[cfg(test)]
pub(crate) mod fixture;
mod libc;
mod pads;
mod partitions;
pub mod read_only;
mod report;
mod service;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::Path;

use crate::atomic::Mode;
use crate::board::{Board, BoardOrigin};
use crate::disk::ext4::Owner;
use crate::disk::Disk;
use crate::settings::Settings;
pub use accounts::owner_of;
use arch::Arch;
use card::Card;
use error::io_error;
pub use error::InstallError;
pub use libc::Glibc;
pub use report::{Change, FileChange, InstallReport, PadsLine};

/// Where the program, its settings and (by default) its patches live on the Pi.
pub const INSTALL_DIR: &str = "/opt/open-nsynth";
/// The account the service runs as unless told otherwise, as in the original.
pub const DEFAULT_USER: &str = "pi";

/// What to install where.
#[derive(Debug, Clone, Copy)]
pub struct InstallOptions<'a> {
    /// The card's root file system as mounted here (`/` on the Pi itself).
    pub root: &'a Path,
    /// The card's boot partition as mounted here; when `None` it is looked for under the root
    /// (`boot/firmware`, or `boot` on images before Bookworm) and then beside it (`bootfs`,
    /// `boot`), where desktop systems mount a card's partitions.
    pub boot: Option<&'a Path>,
    pub board: &'a Board,
    /// The program to install: a build for the Pi's ARM processor.
    pub binary: &'a Path,
    /// The settings file to install when the card has none yet.
    pub settings: &'a Path,
    /// The account the service runs as.
    pub user: &'a str,
    /// A folder of pads to copy into the settings' data directory.
    pub pads: Option<&'a Path>,
    /// Sets up the read-only layout.
    pub read_only: Option<ReadOnly<'a>>,
}

/// Where and when the read-only layout is made.
#[derive(Debug, Clone, Copy)]
pub struct ReadOnly<'a> {
    /// The card's disk: an image file, or the card's block device; when `None`, the disk whose
    /// partition is mounted at the root.
    pub disk: Option<&'a Path>,
    /// The folder for temporary files as large as the pads; when `None`, the system's.
    pub scratch: Option<&'a Path>,
    /// The time stamp of what is made, in seconds since 1970.
    pub stamp: u64,
}

/// What installing reads from the computer it runs on, checked.
struct Inputs {
    program: Vec<u8>,
    arch: Arch,
    /// The settings to install (for the read-only layout, with its paths).
    settings_text: String,
}

/// Reads and checks the board, user name, program and settings.
fn read_inputs(options: &InstallOptions) -> Result<Inputs, InstallError> {
    let board = options.board;
    if board.boot_config.is_empty() {
        return Err(InstallError::NothingToInstall {
            board: board.name.clone(),
        });
    }
    accounts::check_user_name(options.user)?;
    let program = fs::read(options.binary).map_err(io_error("read", options.binary))?;
    let arch = Arch::of_program(&program).map_err(|problem| InstallError::Program {
        path: options.binary.to_path_buf(),
        problem,
    })?;
    let mut settings_text =
        fs::read_to_string(options.settings).map_err(io_error("read", options.settings))?;
    // Checked even when the card keeps its own settings: a broken file is a mistake to report.
    Settings::from_json(&settings_text, options.settings)?;
    if options.read_only.is_some() {
        settings_text = read_only::settings_text(&settings_text, options.settings)?;
    }
    Ok(Inputs {
        program,
        arch,
        settings_text,
    })
}

/// Checks everything an install onto a card without settings of its own would check before
/// writing (the card itself aside): board, user name, program, settings, pads.
pub fn check(options: &InstallOptions) -> Result<(), InstallError> {
    let inputs = read_inputs(options)?;
    let nowhere = options.root.join("(no card)").join("settings.json");
    pads::plan(
        &nowhere,
        options.settings,
        &inputs.settings_text,
        options.pads,
    )
    .map(drop)
}

/// Installs open-nsynth on the card. See the module documentation for what it writes.
pub fn install(options: &InstallOptions) -> Result<InstallReport, InstallError> {
    // Everything that can be refused is, before anything is written.
    partitions::check_root(options.root)?;
    let boot_dir = partitions::find_boot(options.root, options.boot)?;
    let board = options.board;
    let Inputs {
        program,
        arch,
        settings_text,
    } = read_inputs(options)?;
    let mut disk = match options.read_only {
        Some(ReadOnly {
            disk: Some(disk), ..
        }) => Some(Disk::open(disk)?),
        Some(ReadOnly { disk: None, .. }) => {
            Some(Disk::open(&partitions::find_disk(options.root)?)?)
        }
        None => None,
    };
    let scratch = match options.read_only {
        Some(layout) => {
            let mut scratch = tempfile::Builder::new();
            scratch.prefix(".open-nsynth-");
            let folder = match layout.scratch {
                Some(folder) => scratch.tempdir_in(folder),
                None => scratch.tempdir(),
            };
            Some(folder.map_err(io_error(
                "create a temporary folder in",
                layout.scratch.unwrap_or(&std::env::temp_dir()),
            ))?)
        }
        None => None,
    };

    let mut card = Card::new(options.root, &boot_dir);
    if let Some(scratch) = &scratch {
        card.mount(read_only::PADS_DIR, &scratch.path().join("pads"));
    }
    let pads = pads::plan(
        &card.path(INSTALL_DIR).join("settings.json"),
        options.settings,
        &settings_text,
        options.pads,
    )?;
    if let Some(disk) = &disk {
        let files = pads.as_ref().and_then(pads::Plan::files);
        let pads_bytes = files.map(read_only::files_bytes).transpose()?;
        read_only::check_disk(disk, pads_bytes)?;
    }

    arch::check_architecture(&mut card, arch);
    libc::check(&mut card, &program, arch, options.binary)?;
    let board_arg = put_program(&mut card, board, &arch::stripped(&program), &settings_text)?;
    let groups = accounts::device_groups(&mut card);
    let owner = match options.read_only {
        Some(layout) => accounts::add_user(&mut card, options.user, layout.stamp / 86400)?,
        None => {
            accounts::check_user(&mut card, options.user);
            Owner::ROOT
        }
    };
    let folders = pads
        .as_ref()
        .map(|plan| pads::folders(&card, plan))
        .unwrap_or_default();
    service::put(
        &mut card,
        &service::Service {
            board,
            board_arg: &board_arg,
            user: options.user,
            groups: &groups,
            folders: &folders,
            read_only: disk.is_some(),
        },
    )?;
    boot_files::edit(&mut card, &boot_dir, board)?;
    if let Some(disk) = &disk {
        read_only::put_root(&mut card, &boot_dir, &disk.id())?;
    }
    if let Some(pads) = &pads {
        pads::put(&mut card, pads)?;
    }
    if let (Some(disk), Some(scratch), Some(layout)) = (&mut disk, &scratch, options.read_only) {
        let gathered = scratch.path().join("pads");
        let count = read_only::put_partitions(
            disk,
            &read_only::Partitions {
                pads: gathered.is_dir().then_some(gathered.as_path()),
                owner,
                stamp: layout.stamp,
                scratch: scratch.path(),
            },
        )?;
        if options.pads.is_none() {
            card.pads(PadsLine::Kept {
                folder: read_only::PADS_DIR.into(),
                count,
            });
        }
    }
    Ok(card.into_report())
}

/// Puts the program, the settings (unless the card has its own) and a board file of the user's
/// own into the install folder. Returns the service's `--board` argument.
fn put_program(
    card: &mut Card,
    board: &Board,
    program: &[u8],
    settings_text: &str,
) -> Result<String, InstallError> {
    let install_dir = card.path(INSTALL_DIR);
    fs::create_dir_all(&install_dir).map_err(io_error("create folder", &install_dir))?;
    card.put(
        &install_dir.join("open-nsynth"),
        program,
        Mode::Exact(0o755),
    )?;
    let card_settings = card.put_settings(&install_dir.join("settings.json"), settings_text)?;
    let board_arg = match &board.origin {
        BoardOrigin::BuiltIn => board.name.clone(),
        BoardOrigin::File { text, .. } => {
            card.put(
                &install_dir.join("board.toml"),
                text.as_bytes(),
                Mode::Exact(0o644),
            )?;
            format!("{INSTALL_DIR}/board.toml")
        }
    };
    if let Some(settings) = card_settings.filter(|settings| settings.board != board.name) {
        card.note(format!(
            "the settings name board `{}`; the service passes --board {board_arg}, which wins",
            settings.board
        ));
    }
    Ok(board_arg)
}
