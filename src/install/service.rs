//! The systemd service that plays at boot: its unit file (user, device groups, real-time
//! scheduling, the program's command line) and the link that starts it with the system. It never
//! starts, stops or enables anything through systemd itself.

use std::path::Path;

use super::card::Card;
use super::error::InstallError;
use super::INSTALL_DIR;
use crate::atomic::Mode;
use crate::board::Board;

const UNIT_NAME: &str = "open-nsynth.service";
const UNIT_DIR: &str = "/etc/systemd/system";

/// Writes the unit that runs the program for `board` (named on its command line as
/// `board_arg`) as `user` with `groups`, and starts it with the system.
pub(super) fn put(
    card: &mut Card,
    board: &Board,
    board_arg: &str,
    user: &str,
    groups: &[&str],
) -> Result<(), InstallError> {
    let unit_dir = card.path(UNIT_DIR);
    let unit = unit_text(board, board_arg, user, groups);
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
fn unit_text(board: &Board, board_arg: &str, user: &str, groups: &[&str]) -> String {
    let groups = if groups.is_empty() {
        String::new()
    } else {
        format!("SupplementaryGroups={}\n", groups.join(" "))
    };
    format!(
        "# Written by `open-nsynth install` for board {name}; installing again replaces this file.
[Unit]
Description=Open NSynth Super synthesizer
# Mixer levels are restored before the program opens the sound card.
After=sound.target alsa-restore.service

[Service]
Type=simple
User={user}
{groups}WorkingDirectory={INSTALL_DIR}
# Patches are saved next to settings.json, so the folder must belong to the service's user. On
# current images that user is created at first boot, after installation, so the folder is handed
# over at each start (`+` runs this one command as root).
ExecStartPre=+/bin/chown {user}: {INSTALL_DIR}
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
