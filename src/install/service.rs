//! The systemd service that plays at boot: its unit file (user, device groups, real-time
//! scheduling, the program's command line) and the link that starts it with the system. It never
//! starts, stops or enables anything through systemd itself.

use std::path::Path;

use super::card::Card;
use super::error::InstallError;
use super::read_only::{DATA_DIR, PADS_DIR};
use super::INSTALL_DIR;
use crate::atomic::Mode;
use crate::board::Board;

const UNIT_NAME: &str = "open-nsynth.service";
const UNIT_DIR: &str = "/etc/systemd/system";

/// Writes the unit that runs the program for `board` (named on its command line as
/// `board_arg`) as `user` with `groups`, and starts it with the system. In the read-only layout
/// it works in the data partition's folder and waits for both partitions.
pub(super) fn put(
    card: &mut Card,
    board: &Board,
    board_arg: &str,
    user: &str,
    groups: &[&str],
    read_only: bool,
) -> Result<(), InstallError> {
    let unit_dir = card.path(UNIT_DIR);
    let unit = unit_text(board, board_arg, user, groups, read_only);
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
fn unit_text(
    board: &Board,
    board_arg: &str,
    user: &str,
    groups: &[&str],
    read_only: bool,
) -> String {
    let groups = if groups.is_empty() {
        String::new()
    } else {
        format!("SupplementaryGroups={}\n", groups.join(" "))
    };
    let (folder, mounts) = if read_only {
        (
            DATA_DIR,
            format!("# The pads and the data partition are mounted first.\nRequiresMountsFor={PADS_DIR} {DATA_DIR}\n"),
        )
    } else {
        (INSTALL_DIR, String::new())
    };
    format!(
        "# Written by `open-nsynth install` for board {name}; installing again replaces this file.
[Unit]
Description=Open NSynth Super synthesizer
# Started as soon as what it plays through is ready, not after the network or the rest of the
# system: after the local file systems, the kernel modules (i2c-dev, the sound card's) and the
# mixer levels, which are restored before the program opens the sound card. A sound card that
# appears later is found by the program itself, which looks again every 2 s.
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service systemd-journald.socket sound.target alsa-restore.service
Conflicts=shutdown.target
Before=shutdown.target
{mounts}
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
# Real-time scheduling keeps the sound flowing while the system is busy: every thread of the
# service runs SCHED_FIFO at 70, above ordinary processes. LimitRTPRIO and LimitMEMLOCK only permit
# a higher priority or locked memory (for the sound card driver's threads); nothing asks for more.
CPUSchedulingPolicy=fifo
CPUSchedulingPriority=70
LimitRTPRIO=95
LimitMEMLOCK=infinity

[Install]
WantedBy=multi-user.target
",
        name = board.name
    )
}
