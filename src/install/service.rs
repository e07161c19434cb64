//! The systemd service that plays at boot: its unit file (user, device groups, real-time
//! scheduling, the program's command line) and the link that starts it with the system. It never
//! starts, stops or enables anything through systemd itself.

use std::path::{Path, PathBuf};

use super::card::Card;
use super::error::InstallError;
use super::read_only::DATA_DIR;
use super::INSTALL_DIR;
use crate::atomic::Mode;
use crate::board::Board;

const UNIT_NAME: &str = "open-nsynth.service";
const UNIT_DIR: &str = "/etc/systemd/system";

/// What the unit runs and needs.
pub(super) struct Service<'a> {
    pub board: &'a Board,
    /// The program's `--board` argument.
    pub board_arg: &'a str,
    pub user: &'a str,
    pub groups: &'a [&'a str],
    /// The folders (on the Pi) of the pads and the patches, mounted before the program starts.
    pub folders: &'a [PathBuf],
    /// In the read-only layout it works in the data partition's folder.
    pub read_only: bool,
}

/// Writes the unit and starts it with the system.
pub(super) fn put(card: &mut Card, service: &Service) -> Result<(), InstallError> {
    let unit_dir = card.path(UNIT_DIR);
    let unit = unit_text(service);
    card.put(
        &unit_dir.join(UNIT_NAME),
        unit.as_bytes(),
        Mode::Exact(0o644),
    )?;
    card.link(
        &unit_dir.join("multi-user.target.wants").join(UNIT_NAME),
        &Path::new(UNIT_DIR).join(UNIT_NAME),
    )
}

/// The systemd unit that runs the instrument.
fn unit_text(service: &Service) -> String {
    let Service {
        board,
        board_arg,
        user,
        groups,
        folders,
        read_only,
    } = service;
    let groups = if groups.is_empty() {
        String::new()
    } else {
        format!("SupplementaryGroups={}\n", groups.join(" "))
    };
    let folder = if *read_only { DATA_DIR } else { INSTALL_DIR };
    let mut mounts: Vec<String> = vec![INSTALL_DIR.to_owned()];
    mounts.extend(folders.iter().map(|folder| folder.display().to_string()));
    mounts.sort();
    mounts.dedup();
    let mounts = mounts.join(" ");
    format!(
        "# Written by `open-nsynth install` for board {name}; installing again replaces this file.
[Unit]
Description=Open NSynth Super synthesizer
# Started as early as it can play: once the root file system is writable, the kernel modules
# listed for boot (i2c-dev) are loaded and the folders of the program, the pads and the patches
# are mounted; not after the network, the sound system or the rest of the system. A sound card,
# I2C bus or MIDI port that appears later (or becomes the service's later, when udev sets its
# group) is found by the program itself, which looks again every 0.5 s for the sound card and
# every 2 s for the rest.
DefaultDependencies=no
After=systemd-remount-fs.service systemd-modules-load.service systemd-journald.socket
RequiresMountsFor={mounts}
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=simple
User={user}
{groups}WorkingDirectory={folder}
# Patches are saved in this folder, so it must belong to the service's user. On current images
# that user is created at first boot, after installation, so the folder is handed over at each
# start (`+` runs this one command as root).
ExecStartPre=+/bin/chown {user}: {folder}
ExecStart={INSTALL_DIR}/open-nsynth run --settings {INSTALL_DIR}/settings.json --board {board_arg}
Restart=on-failure
RestartSec=2
# Only the thread that feeds the sound card runs at real-time priority (SCHED_FIFO 70, which it
# asks for itself); the rest of the program (pad loading, screen, MIDI, OSC) stays at normal
# priority, so that none of it can starve the system. LimitRTPRIO lets it ask; LimitMEMLOCK
# permits locked memory for the sound card driver's threads.
LimitRTPRIO=95
LimitMEMLOCK=infinity

[Install]
WantedBy=multi-user.target
",
        name = board.name
    )
}
