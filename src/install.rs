//! `open-nsynth install`: sets up a Raspberry Pi OS SD card, mounted on another computer (or the
//! running Pi, with `/` as the root), to play at boot: the program and settings under
//! `/opt/open-nsynth`, a systemd service started at boot, the `i2c-dev` module, no serial console
//! on the MIDI UART, and the board's `config.txt` lines in a marked block. Installing again
//! changes nothing; another board replaces the block. Every file is replaced atomically.
//! It never writes outside the given root and boot folders, never replaces the user's settings
//! or patches, and never runs anything from the card.

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::atomic::{self, Mode};
use crate::board::{Board, BoardOrigin};
use crate::settings::{Settings, SettingsError};

/// Where the program, its settings and (by default) its patches live on the Pi.
pub const INSTALL_DIR: &str = "/opt/open-nsynth";
/// The account the service runs as unless told otherwise, as in the original.
pub const DEFAULT_USER: &str = "pi";

const UNIT_NAME: &str = "open-nsynth.service";
const UNIT_DIR: &str = "/etc/systemd/system";
const BLOCK_BEGIN: &str = "# >>> open-nsynth";
const BLOCK_END: &str = "# <<< open-nsynth";
/// Groups owning the devices the service opens (sound card, serial port, GPIO, I2C); each one
/// the card's system has is given to the service.
const DEVICE_GROUPS: [&str; 4] = ["audio", "dialout", "gpio", "i2c"];

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
    #[error(transparent)]
    Settings(#[from] SettingsError),
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

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |cause| InstallError::Io {
        action,
        path,
        cause,
    }
}

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
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    /// Already as it should be; not written.
    Unchanged,
    /// The user's own file, left as it is.
    Kept,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The file as seen from this computer.
    pub path: PathBuf,
    pub change: Change,
}

/// Every file install looked after, and what the user should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// The boot partition that was used.
    pub boot_dir: PathBuf,
    pub files: Vec<FileChange>,
    /// Things that will matter when the Pi boots: kept files, missing users or groups, warnings
    /// about the settings.
    pub notes: Vec<String>,
}

impl InstallReport {
    /// Whether any file was created or rewritten.
    pub fn changed_anything(&self) -> bool {
        self.files
            .iter()
            .any(|file| matches!(file.change, Change::Created | Change::Updated))
    }
}

impl fmt::Display for InstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "boot partition: {}", self.boot_dir.display())?;
        for file in &self.files {
            let change = match file.change {
                Change::Created => "created",
                Change::Updated => "updated",
                Change::Unchanged => "unchanged",
                Change::Kept => "kept",
            };
            writeln!(f, "  {change:<9}  {}", file.path.display())?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        if self.changed_anything() {
            write!(f, "Done: open-nsynth starts when the Pi boots.")
        } else {
            write!(
                f,
                "Nothing to change: the card was already set up for this board."
            )
        }
    }
}

/// Installs open-nsynth on the card. See the module documentation for what it writes.
pub fn install(options: &InstallOptions) -> Result<InstallReport, InstallError> {
    let board = options.board;
    if board.boot_config.is_empty() {
        return Err(InstallError::NothingToInstall {
            board: board.name.clone(),
        });
    }
    check_user_name(options.user)?;
    check_root(options.root)?;
    let boot_dir = find_boot(options.root, options.boot)?;
    let program = fs::read(options.binary).map_err(io_error("read", options.binary))?;
    let arch = Arch::of_program(&program).map_err(|problem| InstallError::Program {
        path: options.binary.to_path_buf(),
        problem,
    })?;
    let settings_text =
        fs::read_to_string(options.settings).map_err(io_error("read", options.settings))?;
    // Checked even when the card keeps its own settings: a broken file is a mistake to report.
    Settings::from_json(&settings_text, options.settings)?;

    let mut card = Card {
        root: options.root,
        report: InstallReport {
            boot_dir: boot_dir.clone(),
            files: Vec::new(),
            notes: Vec::new(),
        },
    };
    card.check_architecture(arch);
    let install_dir = card.path(INSTALL_DIR);
    fs::create_dir_all(&install_dir).map_err(io_error("create folder", &install_dir))?;
    card.put(
        &install_dir.join("open-nsynth"),
        &program,
        Mode::Exact(0o755),
    )?;
    let card_settings = card.put_settings(&install_dir.join("settings.json"), &settings_text)?;
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
        card.report.notes.push(format!(
            "the settings name board `{}`; the service passes --board {board_arg}, which wins",
            settings.board
        ));
    }

    let groups = card.device_groups();
    card.check_user(options.user);
    let unit_dir = card.path(UNIT_DIR);
    let unit = unit_text(board, &board_arg, options.user, &groups);
    card.put(
        &unit_dir.join(UNIT_NAME),
        unit.as_bytes(),
        Mode::Exact(0o644),
    )?;
    card.link(
        &unit_dir.join("multi-user.target.wants").join(UNIT_NAME),
        &Path::new(UNIT_DIR).join(UNIT_NAME),
    )?;
    card.edit(&card.path("/etc/modules"), |text| {
        Ok(with_module(text, "i2c-dev"))
    })?;
    card.edit(&boot_dir.join("cmdline.txt"), |text| {
        Ok(without_serial_console(text))
    })?;
    let config = boot_dir.join("config.txt");
    card.edit(&config, |text| {
        with_block(text, &block_text(board)).map_err(|(line, problem)| InstallError::Block {
            path: config.clone(),
            line,
            problem,
        })
    })?;
    Ok(card.report)
}

fn check_user_name(user: &str) -> Result<(), InstallError> {
    let mut chars = user.chars();
    let plain = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && user.len() <= 32;
    if plain {
        Ok(())
    } else {
        Err(InstallError::UserName {
            user: user.to_owned(),
        })
    }
}

fn check_root(root: &Path) -> Result<(), InstallError> {
    let problem = if !root.is_dir() {
        "it is not a folder"
    } else if root.join("cmdline.txt").is_file() {
        "it holds cmdline.txt, so it is the boot partition; pass the root file system partition \
         (rootfs) with --sd and this one with --boot"
    } else if root.join("etc/os-release").symlink_metadata().is_err() {
        "it has no etc/os-release; pass the folder where the card's root file system partition \
         (usually called rootfs) is mounted"
    } else if !root.join("etc/systemd/system").is_dir() {
        "it has no etc/systemd/system; open-nsynth is started by systemd, as on Raspberry Pi OS"
    } else {
        return Ok(());
    };
    Err(InstallError::NotARoot {
        root: root.to_path_buf(),
        problem: problem.to_owned(),
    })
}

fn is_boot_partition(dir: &Path) -> bool {
    dir.join("config.txt").is_file() && dir.join("cmdline.txt").is_file()
}

/// The boot partition: the explicit one, else the one mounted inside the root, else one
/// mounted beside it that belongs to the same card.
fn find_boot(root: &Path, explicit: Option<&Path>) -> Result<PathBuf, InstallError> {
    if let Some(dir) = explicit {
        for missing in ["config.txt", "cmdline.txt"] {
            if !dir.join(missing).is_file() {
                return Err(InstallError::NotABootPartition {
                    path: dir.to_path_buf(),
                    missing,
                });
            }
        }
        return Ok(dir.to_path_buf());
    }
    // Since Bookworm the boot partition is mounted at /boot/firmware and /boot holds only a note
    // saying config.txt moved, so /boot counts only on cards without /boot/firmware.
    let firmware = root.join("boot/firmware");
    let inside = if firmware.is_dir() {
        firmware
    } else {
        root.join("boot")
    };
    if is_boot_partition(&inside) {
        return Ok(inside);
    }
    let mut tried = vec![inside];
    let fstab = fs::read_to_string(root.join("etc/fstab")).unwrap_or_default();
    let root_device = fstab_root_device(&fstab);
    let beside = root
        .parent()
        .into_iter()
        .flat_map(|parent| ["bootfs", "boot"].map(|name| parent.join(name)));
    for dir in beside.filter(|dir| dir != root) {
        // Several cards may be mounted side by side: only the boot partition that boots this
        // root (its cmdline.txt's root= is the root's own entry in fstab) will do.
        let same_card = is_boot_partition(&dir)
            && fs::read_to_string(dir.join("cmdline.txt"))
                .ok()
                .is_some_and(|cmdline| {
                    root_device.is_some() && cmdline_root_device(&cmdline) == root_device
                });
        if same_card {
            return Ok(dir);
        }
        tried.push(dir);
    }
    Err(InstallError::BootNotFound { tried })
}

/// The device `/` is mounted from, as `/etc/fstab` names it (`PARTUUID=…-02` on Pi OS).
fn fstab_root_device(fstab: &str) -> Option<&str> {
    fstab.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let device = fields.next().filter(|device| !device.starts_with('#'))?;
        (fields.next() == Some("/")).then_some(device)
    })
}

/// The kernel's `root=` argument.
fn cmdline_root_device(cmdline: &str) -> Option<&str> {
    cmdline
        .split_whitespace()
        .find_map(|word| word.strip_prefix("root="))
}

/// The processor a program is built for, from its ELF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arch {
    Arm32,
    Arm64,
}

impl Arch {
    fn of_program(program: &[u8]) -> Result<Self, String> {
        const BUILD_HINT: &str = "the Pi needs an ARM build: cargo build --release --target \
             aarch64-unknown-linux-gnu (64-bit Raspberry Pi OS) or \
             armv7-unknown-linux-gnueabihf (32-bit)";
        if program.len() < 20 || !program.starts_with(b"\x7fELF") {
            return Err(format!("not a Linux program (no ELF header); {BUILD_HINT}"));
        }
        let bytes = [program[18], program[19]];
        let machine = match program[5] {
            1 => u16::from_le_bytes(bytes),
            2 => u16::from_be_bytes(bytes),
            _ => return Err(format!("damaged ELF header (byte order); {BUILD_HINT}")),
        };
        match machine {
            0x28 => Ok(Arch::Arm32),
            0xB7 => Ok(Arch::Arm64),
            0x3E => Err(format!("this is a program for x86-64 PCs; {BUILD_HINT}")),
            0x03 => Err(format!(
                "this is a program for 32-bit x86 PCs; {BUILD_HINT}"
            )),
            other => Err(format!(
                "a program for machine type {other:#x}; {BUILD_HINT}"
            )),
        }
    }

    /// The dynamic loader a system of this kind has.
    fn loader(self) -> &'static str {
        match self {
            Arch::Arm32 => "lib/ld-linux-armhf.so.3",
            Arch::Arm64 => "lib/ld-linux-aarch64.so.1",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Arch::Arm32 => "32-bit ARM (armhf)",
            Arch::Arm64 => "64-bit ARM (arm64)",
        }
    }
}

/// The card being installed on, and what has been done to it so far.
struct Card<'a> {
    root: &'a Path,
    report: InstallReport,
}

impl Card<'_> {
    /// A path on the Pi, as seen from here.
    fn path(&self, on_pi: &str) -> PathBuf {
        self.root.join(on_pi.trim_start_matches('/'))
    }

    fn record(&mut self, path: &Path, change: Change) {
        self.report.files.push(FileChange {
            path: path.to_path_buf(),
            change,
        });
    }

    fn check_architecture(&mut self, arch: Arch) {
        let other = match arch {
            Arch::Arm32 => Arch::Arm64,
            Arch::Arm64 => Arch::Arm32,
        };
        let has = |arch: Arch| self.root.join(arch.loader()).symlink_metadata().is_ok();
        if !has(arch) && has(other) {
            self.report.notes.push(format!(
                "the program is built for {} but the card's system is {}: it will not start \
                 there; install the {} build",
                arch.describe(),
                other.describe(),
                other.describe()
            ));
        }
    }

    /// Writes `bytes` to `path` unless it already holds them.
    fn put(&mut self, path: &Path, bytes: &[u8], mode: Mode) -> Result<(), InstallError> {
        let change = match fs::read(path) {
            Err(error) if error.kind() == ErrorKind::NotFound => Change::Created,
            Err(error) => return Err(io_error("read", path)(error)),
            Ok(old) if old == bytes && permissions_match(path, mode) => Change::Unchanged,
            Ok(_) => Change::Updated,
        };
        if change != Change::Unchanged {
            atomic::write_bytes(path, bytes, mode).map_err(|error| InstallError::Io {
                action: "write",
                path: path.to_owned(),
                cause: error.cause,
            })?;
        }
        self.record(path, change);
        Ok(())
    }

    /// Installs the settings unless the card has its own, and reports the user's patches.
    /// Returns the settings the service will read, when they are valid.
    fn put_settings(&mut self, path: &Path, text: &str) -> Result<Option<Settings>, InstallError> {
        match fs::read(path) {
            Ok(old) if old != text.as_bytes() => {
                self.record(path, Change::Kept);
                self.report.notes.push(format!(
                    "kept the card's own {}; the settings given were not installed",
                    path.display()
                ));
            }
            _ => self.put(path, text.as_bytes(), Mode::Exact(0o644))?,
        }
        let settings = match Settings::from_file(path) {
            Ok(settings) => settings,
            Err(error) => {
                self.report.notes.push(format!(
                    "the card's settings have a problem the program will stop at: {error}"
                ));
                return Ok(None);
            }
        };
        self.report.notes.extend(settings.warnings.iter().cloned());
        // Absolute patch paths name a place on the Pi, not here.
        let patches = if settings.patch_file.starts_with(self.root) {
            settings.patch_file.clone()
        } else {
            self.path(&settings.patch_file.to_string_lossy())
        };
        if patches.is_file() {
            self.record(&patches, Change::Kept);
        }
        Ok(Some(settings))
    }

    /// Rewrites an existing (or absent, hence empty) text file with `change`, which returns
    /// `None` when the text is already right.
    fn edit(
        &mut self,
        path: &Path,
        change: impl FnOnce(&str) -> Result<Option<String>, InstallError>,
    ) -> Result<(), InstallError> {
        let text = match fs::read_to_string(path) {
            Err(error) if error.kind() == ErrorKind::NotFound => String::new(),
            other => other.map_err(io_error("read", path))?,
        };
        match change(&text)? {
            Some(new) => self.put(path, new.as_bytes(), Mode::Keep),
            None => {
                self.record(path, Change::Unchanged);
                Ok(())
            }
        }
    }

    /// Points the symbolic link `path` at `target` (a path on the Pi), replacing it atomically.
    fn link(&mut self, path: &Path, target: &Path) -> Result<(), InstallError> {
        let change = match fs::read_link(path) {
            Ok(current) if current == target => Change::Unchanged,
            Ok(_) => Change::Updated,
            Err(error) if error.kind() == ErrorKind::NotFound => Change::Created,
            // Something that is not a link sits there.
            Err(error) if error.kind() == ErrorKind::InvalidInput => Change::Updated,
            Err(error) => return Err(io_error("read", path)(error)),
        };
        if change != Change::Unchanged {
            let dir = parent(path);
            fs::create_dir_all(dir).map_err(io_error("create folder", dir))?;
            let temp = atomic::partial_path(path);
            let result = std::os::unix::fs::symlink(target, &temp)
                .and_then(|()| fs::rename(&temp, path))
                .and_then(|()| atomic::sync_folder_of(path).map_err(|error| error.cause));
            if result.is_err() {
                let _ = fs::remove_file(&temp);
            }
            result.map_err(io_error("link", path))?;
        }
        self.record(path, change);
        Ok(())
    }

    /// The device groups the card's system has; the missing ones become notes.
    fn device_groups(&mut self) -> Vec<&'static str> {
        let group_file = fs::read_to_string(self.path("/etc/group")).unwrap_or_default();
        let (present, missing): (Vec<_>, Vec<_>) = DEVICE_GROUPS
            .into_iter()
            .partition(|group| has_entry(&group_file, group));
        if !missing.is_empty() {
            self.report.notes.push(format!(
                "the card has no group {}: the service may not reach those devices",
                missing.join(", ")
            ));
        }
        present
    }

    fn check_user(&mut self, user: &str) {
        let passwd = fs::read_to_string(self.path("/etc/passwd")).unwrap_or_default();
        if !has_entry(&passwd, user) {
            self.report.notes.push(format!(
                "user `{user}` does not exist on the card yet: the service needs it (Raspberry Pi \
                 Imager's settings create it at first boot), or install again with --user NAME"
            ));
        }
    }
}

/// Whether a colon-separated account file (`/etc/passwd`, `/etc/group`) has `name`.
fn has_entry(file: &str, name: &str) -> bool {
    file.lines()
        .any(|line| line.split(':').next() == Some(name))
}

fn permissions_match(path: &Path, mode: Mode) -> bool {
    match mode {
        Mode::Keep => true,
        Mode::Exact(bits) => {
            fs::metadata(path).is_ok_and(|metadata| metadata.permissions().mode() & 0o7777 == bits)
        }
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
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

/// `/etc/modules` with `module` loaded at boot, or `None` when it already is.
fn with_module(modules: &str, module: &str) -> Option<String> {
    let loaded = modules.lines().any(|line| {
        let setting = line.split('#').next().unwrap_or_default();
        setting.split_whitespace().next() == Some(module)
    });
    if loaded {
        return None;
    }
    let mut text = modules.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(module);
    text.push('\n');
    Some(text)
}

/// The kernel command line without consoles on serial ports (`console=serial0,115200` and
/// the like), which would otherwise print boot messages into the MIDI UART and answer it with a
/// login prompt; consoles on screens (`console=tty1`) stay. `None` when there is none.
fn without_serial_console(cmdline: &str) -> Option<String> {
    let is_serial_console = |word: &str| {
        word.strip_prefix("console=").is_some_and(|console| {
            let device = console.split(',').next().unwrap_or_default();
            let screen = device
                .strip_prefix("tty")
                .is_some_and(|number| number.bytes().all(|byte| byte.is_ascii_digit()));
            !screen
        })
    };
    if !cmdline.split_whitespace().any(is_serial_console) {
        return None;
    }
    let kept: Vec<&str> = cmdline
        .split_whitespace()
        .filter(|word| !is_serial_console(word))
        .collect();
    let end = if cmdline.ends_with('\n') { "\n" } else { "" };
    Some(format!("{}{end}", kept.join(" ")))
}

/// The marked config.txt block for `board`. It opens with `[all]` so that a model filter such
/// as `[pi4]` earlier in the file cannot confine its lines to one model.
fn block_text(board: &Board) -> String {
    let mut block = format!(
        "{BLOCK_BEGIN}: board {}\n# {}\n# Written by `open-nsynth install`; installing again \
         replaces this block.\n[all]\n",
        board.name, board.description
    );
    for line in &board.boot_config {
        block.push_str(line);
        block.push('\n');
    }
    block.push_str(BLOCK_END);
    block.push('\n');
    block
}

/// config.txt with `block` in place of the existing open-nsynth block, or appended when there
/// is none; `None` when the text already holds exactly this block. A damaged block is an error
/// (line number, problem), since guessing where it ends could delete the user's lines.
fn with_block(config: &str, block: &str) -> Result<Option<String>, (usize, &'static str)> {
    let lines: Vec<&str> = config.split_inclusive('\n').collect();
    let marked = |marker: &str| -> Vec<usize> {
        (0..lines.len())
            .filter(|&index| lines[index].trim_start().starts_with(marker))
            .collect()
    };
    let new = match (marked(BLOCK_BEGIN).as_slice(), marked(BLOCK_END).as_slice()) {
        ([], []) => {
            let mut text = config.to_owned();
            if !text.is_empty() {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push('\n');
            }
            text + block
        }
        (&[begin], &[end]) if begin < end => {
            let before: String = lines[..begin].concat();
            let after: String = lines[end + 1..].concat();
            format!("{before}{block}{after}")
        }
        (&[begin], []) => return Err((begin + 1, "the open-nsynth block has no end line")),
        (&[_, second, ..], _) => {
            return Err((second + 1, "a second open-nsynth block starts here"))
        }
        (_, &[end, ..]) => return Err((end + 1, "an open-nsynth block ends here without a start")),
    };
    Ok((new != config).then_some(new))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const PARTUUID: &str = "4e639091";

    /// config.txt as a Bookworm image ships it, shortened; it ends inside a `[cm4]` section.
    const STOCK_CONFIG: &str = "\
# Uncomment some or all of these to enable the optional hardware interfaces
#dtparam=i2c_arm=on
#dtparam=spi=on

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

dtoverlay=vc4-kms-v3d
max_framebuffers=2
arm_64bit=1

[cm4]
otg_mode=1
";

    const STOCK_MODULES: &str = "\
# /etc/modules: kernel modules to load at boot time.
#
# This file contains the names of kernel modules that should be loaded
# at boot time, one per line. Lines beginning with \"#\" are ignored.

";

    fn stock_cmdline() -> String {
        format!(
            "console=serial0,115200 console=tty1 root=PARTUUID={PARTUUID}-02 rootfstype=ext4 \
             fsck.repair=yes rootwait quiet splash\n"
        )
    }

    /// A program header for `machine`, followed by some code-like bytes.
    fn program(machine: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2; // 64-bit
        bytes[5] = 1; // little-endian
        bytes[6] = 1; // version
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        bytes.extend((0..=255u8).cycle().take(4000));
        bytes
    }

    fn write(path: &Path, text: impl AsRef<[u8]>) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap()
    }

    /// A freshly written Raspberry Pi OS card as a desktop mounts it, the program and the
    /// settings to install.
    struct Sd {
        _dir: tempfile::TempDir,
        root: PathBuf,
        boot: PathBuf,
        binary: PathBuf,
        settings: PathBuf,
    }

    impl Sd {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("rootfs");
            let etc = root.join("etc");
            write(
                &etc.join("os-release"),
                "PRETTY_NAME=\"Raspbian GNU/Linux 12 (bookworm)\"\n",
            );
            fs::create_dir_all(etc.join("systemd/system")).unwrap();
            write(&etc.join("modules"), STOCK_MODULES);
            write(
                &etc.join("passwd"),
                "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000:,,,:/home/pi:/bin/bash\n",
            );
            write(
                &etc.join("group"),
                "root:x:0:\ndialout:x:20:pi\naudio:x:29:pi\ngpio:x:997:pi\ni2c:x:998:pi\n",
            );
            write(
                &etc.join("fstab"),
                format!(
                    "proc /proc proc defaults 0 0\n\
                     PARTUUID={PARTUUID}-01 /boot/firmware vfat defaults 0 2\n\
                     PARTUUID={PARTUUID}-02 / ext4 defaults,noatime 0 1\n"
                ),
            );
            write(&root.join("lib/ld-linux-aarch64.so.1"), "");
            let boot = root.join("boot/firmware");
            write(&boot.join("config.txt"), STOCK_CONFIG);
            write(&boot.join("cmdline.txt"), stock_cmdline());
            let binary = dir.path().join("build/open-nsynth");
            write(&binary, program(0xB7));
            let settings = dir.path().join("settings.json");
            write(&settings, include_str!("../settings.json"));
            Sd {
                _dir: dir,
                root,
                boot,
                binary,
                settings,
            }
        }

        fn install(&self, board: &Board) -> Result<InstallReport, InstallError> {
            install(&InstallOptions {
                root: &self.root,
                boot: None,
                board,
                binary: &self.binary,
                settings: &self.settings,
                user: DEFAULT_USER,
            })
        }

        fn on_pi(&self, path: &str) -> PathBuf {
            self.root.join(path.trim_start_matches('/'))
        }

        fn unit(&self) -> String {
            read(&self.on_pi("/etc/systemd/system/open-nsynth.service"))
        }

        /// Every file, link and folder under the card's root, with its inode (a rewritten file
        /// gets a new one), mode and contents.
        fn snapshot(&self) -> BTreeMap<PathBuf, (String, Vec<u8>)> {
            fn walk(path: &Path, into: &mut BTreeMap<PathBuf, (String, Vec<u8>)>) {
                use std::os::unix::fs::MetadataExt as _;
                let metadata = path.symlink_metadata().unwrap();
                let mode = format!("{} {:o}", metadata.ino(), metadata.permissions().mode());
                let content = if metadata.is_symlink() {
                    fs::read_link(path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes()
                } else if metadata.is_dir() {
                    for entry in fs::read_dir(path).unwrap() {
                        walk(&entry.unwrap().path(), into);
                    }
                    Vec::new()
                } else {
                    fs::read(path).unwrap()
                };
                into.insert(path.to_path_buf(), (mode, content));
            }
            let mut files = BTreeMap::new();
            walk(&self.root, &mut files);
            files
        }
    }

    fn changes(report: &InstallReport) -> Vec<(String, Change)> {
        report
            .files
            .iter()
            .map(|file| {
                let name = file
                    .path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (name, file.change)
            })
            .collect()
    }

    fn board(name: &str) -> Board {
        Board::named(name).unwrap()
    }

    #[test]
    fn sets_up_a_fresh_card() {
        let sd = Sd::new();
        let report = sd.install(&board("rpi3")).unwrap();
        assert_eq!(report.boot_dir, sd.boot);
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        use Change::*;
        assert_eq!(
            changes(&report),
            [
                ("open-nsynth", Created),
                ("settings.json", Created),
                ("open-nsynth.service", Created),
                ("open-nsynth.service", Created),
                ("modules", Updated),
                ("cmdline.txt", Updated),
                ("config.txt", Updated),
            ]
            .map(|(name, change)| (name.to_owned(), change))
        );

        let program = sd.on_pi("/opt/open-nsynth/open-nsynth");
        assert_eq!(fs::read(&program).unwrap(), fs::read(&sd.binary).unwrap());
        assert_eq!(
            fs::metadata(&program).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        assert_eq!(
            read(&sd.on_pi("/opt/open-nsynth/settings.json")),
            read(&sd.settings)
        );

        let unit = sd.unit();
        for line in [
            "After=sound.target alsa-restore.service",
            "User=pi",
            "SupplementaryGroups=audio dialout gpio i2c",
            "WorkingDirectory=/opt/open-nsynth",
            "ExecStart=/opt/open-nsynth/open-nsynth run --settings \
             /opt/open-nsynth/settings.json --board rpi3",
            "Restart=on-failure",
            "CPUSchedulingPolicy=fifo",
            "CPUSchedulingPriority=70",
            "LimitRTPRIO=95",
            "LimitMEMLOCK=infinity",
            "WantedBy=multi-user.target",
        ] {
            assert!(unit.lines().any(|l| l == line), "no `{line}` in\n{unit}");
        }
        assert_eq!(
            fs::read_link(
                sd.on_pi("/etc/systemd/system/multi-user.target.wants/open-nsynth.service")
            )
            .unwrap(),
            Path::new("/etc/systemd/system/open-nsynth.service")
        );

        assert_eq!(
            read(&sd.on_pi("/etc/modules")),
            format!("{STOCK_MODULES}i2c-dev\n")
        );
        assert_eq!(
            read(&sd.boot.join("cmdline.txt")),
            format!(
                "console=tty1 root=PARTUUID={PARTUUID}-02 rootfstype=ext4 fsck.repair=yes \
                 rootwait quiet splash\n"
            )
        );
        let config = read(&sd.boot.join("config.txt"));
        let added = config
            .strip_prefix(STOCK_CONFIG)
            .expect("the stock lines are kept as they were");
        let added: Vec<&str> = added.lines().collect();
        assert_eq!(added[0], "");
        assert_eq!(added[1], "# >>> open-nsynth: board rpi3");
        assert!(
            added[2].starts_with("# Raspberry Pi 3 Model B"),
            "{}",
            added[2]
        );
        // Without [all], the lines would apply to a Compute Module 4 only.
        assert!(added[3].starts_with("# Written by"), "{}", added[3]);
        assert_eq!(added[4], "[all]");
        assert_eq!(
            added[5..],
            [
                "dtparam=audio=off",
                "dtoverlay=iqaudio-dac",
                "dtparam=i2c_arm=on",
                "dtparam=i2c_arm_baudrate=640000",
                "enable_uart=1",
                "dtoverlay=pi3-miniuart-bt",
                "dtoverlay=midi-uart0",
                "# <<< open-nsynth",
            ]
        );
        assert!(
            !sd.snapshot()
                .keys()
                .any(|path| path.to_string_lossy().ends_with(atomic::PARTIAL_SUFFIX)),
            "no temporary file is left behind"
        );
    }

    #[test]
    fn installing_twice_changes_nothing() {
        let sd = Sd::new();
        sd.install(&board("rpi3")).unwrap();
        let before = sd.snapshot();
        let report = sd.install(&board("rpi3")).unwrap();
        assert_eq!(sd.snapshot(), before);
        assert!(!report.changed_anything(), "{report}");
        assert!(report
            .files
            .iter()
            .all(|file| file.change == Change::Unchanged));
        assert!(report.to_string().contains("Nothing to change"));
    }

    #[test]
    fn another_board_replaces_the_block() {
        let sd = Sd::new();
        sd.install(&board("rpi3")).unwrap();
        let report = sd.install(&board("rpi4")).unwrap();
        use Change::*;
        assert_eq!(
            changes(&report),
            [
                ("open-nsynth", Unchanged),
                ("settings.json", Unchanged),
                ("open-nsynth.service", Updated),
                ("open-nsynth.service", Unchanged),
                ("modules", Unchanged),
                ("cmdline.txt", Unchanged),
                ("config.txt", Updated),
            ]
            .map(|(name, change)| (name.to_owned(), change))
        );
        assert!(report
            .notes
            .iter()
            .any(|note| note.contains("--board rpi4, which wins")));
        let config = read(&sd.boot.join("config.txt"));
        let block = config.strip_prefix(STOCK_CONFIG).unwrap();
        assert_eq!(block.matches("# >>> open-nsynth").count(), 1);
        assert_eq!(block.matches("# <<< open-nsynth").count(), 1);
        assert!(block.contains("# >>> open-nsynth: board rpi4\n"));
        assert!(block.lines().any(|line| line == "dtoverlay=miniuart-bt"));
        assert!(!block.contains("pi3-miniuart-bt"));
        assert!(sd
            .unit()
            .lines()
            .any(|line| line.ends_with("settings.json --board rpi4")));

        let before = sd.snapshot();
        sd.install(&board("rpi4")).unwrap();
        assert_eq!(sd.snapshot(), before);
    }

    #[test]
    fn a_block_in_the_middle_is_replaced_in_place() {
        let old = "\
a=1
# >>> open-nsynth: board rpi3 (old)
[all]
dtoverlay=old
# <<< open-nsynth
[pi4]
b=2
";
        let new = with_block(
            old,
            "# >>> open-nsynth: new\n[all]\nx=1\n# <<< open-nsynth\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            new,
            "a=1\n# >>> open-nsynth: new\n[all]\nx=1\n# <<< open-nsynth\n[pi4]\nb=2\n"
        );
        assert_eq!(
            with_block(
                &new,
                "# >>> open-nsynth: new\n[all]\nx=1\n# <<< open-nsynth\n"
            ),
            Ok(None)
        );
        // A file without a final newline keeps its last line whole.
        assert_eq!(
            with_block("a=1", "# >>> open-nsynth\n# <<< open-nsynth\n"),
            Ok(Some(
                "a=1\n\n# >>> open-nsynth\n# <<< open-nsynth\n".to_owned()
            ))
        );
    }

    #[test]
    fn a_damaged_block_is_left_alone() {
        let begin_only = "a=1\n# >>> open-nsynth\ndtoverlay=x\nb=2\n";
        assert_eq!(with_block(begin_only, "").unwrap_err().0, 2);
        let end_only = "a=1\n# <<< open-nsynth\n";
        assert_eq!(with_block(end_only, "").unwrap_err().0, 2);
        let twice = "# >>> open-nsynth\n# <<< open-nsynth\n# >>> open-nsynth\n# <<< open-nsynth\n";
        assert_eq!(with_block(twice, "").unwrap_err().0, 3);

        let sd = Sd::new();
        let config = sd.boot.join("config.txt");
        write(&config, begin_only);
        let error = sd.install(&board("rpi3")).unwrap_err();
        assert!(
            matches!(error, InstallError::Block { line: 2, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("config.txt, line 2"), "{error}");
        assert_eq!(read(&config), begin_only);
    }

    #[test]
    fn only_serial_consoles_leave_the_command_line() {
        assert_eq!(
            without_serial_console("console=serial0,115200 console=tty1 root=/dev/x rootwait\n"),
            Some("console=tty1 root=/dev/x rootwait\n".to_owned())
        );
        assert_eq!(
            without_serial_console(
                "dwc_otg.lpm_enable=0 console=ttyAMA0,115200 kgdboc=ttyAMA0,115200 \
                 console=ttyS0,115200 console=tty root=/dev/x"
            ),
            Some("dwc_otg.lpm_enable=0 kgdboc=ttyAMA0,115200 console=tty root=/dev/x".to_owned())
        );
        assert_eq!(without_serial_console("console=tty1 root=/dev/x\n"), None);
        assert_eq!(without_serial_console("root=/dev/x quiet\n"), None);
    }

    #[test]
    fn i2c_dev_is_added_once() {
        assert_eq!(with_module("", "i2c-dev"), Some("i2c-dev\n".to_owned()));
        assert_eq!(
            with_module("snd-dummy", "i2c-dev"),
            Some("snd-dummy\ni2c-dev\n".to_owned())
        );
        assert_eq!(
            with_module("# i2c-dev\n", "i2c-dev"),
            Some("# i2c-dev\ni2c-dev\n".to_owned())
        );
        assert_eq!(with_module("  i2c-dev  # bus\n", "i2c-dev"), None);
        assert_eq!(
            with_module("i2c-dev-extra\n", "i2c-dev").as_deref(),
            Some("i2c-dev-extra\ni2c-dev\n")
        );
    }

    #[test]
    fn the_users_settings_and_patches_are_kept() {
        let sd = Sd::new();
        let own = include_str!("../settings.json").replace(
            "\"/home/pi/patches.json\"",
            "\"my-patches.json\", \"board\": \"rpi4\"",
        );
        let settings = sd.on_pi("/opt/open-nsynth/settings.json");
        let patches = sd.on_pi("/opt/open-nsynth/my-patches.json");
        write(&settings, &own);
        write(&patches, "{\"patches\": []}");
        let report = sd.install(&board("rpi3")).unwrap();
        assert_eq!(read(&settings), own);
        assert_eq!(read(&patches), "{\"patches\": []}");
        let kept: Vec<&Path> = report
            .files
            .iter()
            .filter(|file| file.change == Change::Kept)
            .map(|file| file.path.as_path())
            .collect();
        assert_eq!(kept, [settings.as_path(), patches.as_path()]);
        assert!(report
            .notes
            .iter()
            .any(|note| note.contains("kept the card's own")));
    }

    #[test]
    fn patches_at_an_absolute_path_are_found_on_the_card() {
        let sd = Sd::new();
        let patches = sd.on_pi("/home/pi/patches.json");
        write(&patches, "{}");
        let report = sd.install(&board("rpi3")).unwrap();
        assert!(report.files.contains(&FileChange {
            path: patches,
            change: Change::Kept
        }));
    }

    #[test]
    fn a_board_file_of_ones_own_is_installed_with_the_program() {
        let sd = Sd::new();
        let text =
            include_str!("../boards/rpi4.toml").replace("name = \"rpi4\"", "name = \"mine\"");
        let path = sd.root.parent().unwrap().join("mine.toml");
        write(&path, &text);
        let mine = Board::from_file(&path).unwrap();
        sd.install(&mine).unwrap();
        assert_eq!(read(&sd.on_pi("/opt/open-nsynth/board.toml")), text);
        assert!(sd
            .unit()
            .lines()
            .any(|line| line.ends_with("--board /opt/open-nsynth/board.toml")));
    }

    #[test]
    fn the_boot_partition_can_be_mounted_beside_the_root() {
        let sd = Sd::new();
        let beside = sd.root.parent().unwrap().join("bootfs");
        fs::rename(&sd.boot, &beside).unwrap();
        fs::create_dir(&sd.boot).unwrap();
        let report = sd.install(&board("rpi3")).unwrap();
        assert_eq!(report.boot_dir, beside);
        assert!(read(&beside.join("config.txt")).contains("# >>> open-nsynth"));

        // Another card's boot partition is not taken for this one's.
        write(
            &beside.join("cmdline.txt"),
            "console=tty1 root=PARTUUID=0badcafe-02 rootwait\n",
        );
        let error = sd.install(&board("rpi3")).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, InstallError::BootNotFound { .. }),
            "{message}"
        );
        assert!(
            message.contains("bootfs") && message.contains("--boot"),
            "{message}"
        );

        let report = install(&InstallOptions {
            boot: Some(&beside),
            ..options(&sd, &board("rpi3"))
        })
        .unwrap();
        assert_eq!(report.boot_dir, beside);
    }

    fn options<'a>(sd: &'a Sd, board: &'a Board) -> InstallOptions<'a> {
        InstallOptions {
            root: &sd.root,
            boot: None,
            board,
            binary: &sd.binary,
            settings: &sd.settings,
            user: DEFAULT_USER,
        }
    }

    #[test]
    fn older_images_have_the_boot_partition_at_boot() {
        let sd = Sd::new();
        let boot = sd.root.join("boot");
        for file in ["config.txt", "cmdline.txt"] {
            fs::rename(sd.boot.join(file), boot.join(file)).unwrap();
        }
        fs::remove_dir(&sd.boot).unwrap();
        assert_eq!(sd.install(&board("rpi3")).unwrap().boot_dir, boot);
    }

    #[test]
    fn what_is_not_a_pi_os_card_is_refused() {
        let sd = Sd::new();
        let rpi3 = board("rpi3");
        let empty = tempfile::tempdir().unwrap();
        let not_root = install(&InstallOptions {
            root: empty.path(),
            ..options(&sd, &rpi3)
        })
        .unwrap_err();
        assert!(matches!(not_root, InstallError::NotARoot { .. }));
        assert!(not_root.to_string().contains("os-release"), "{not_root}");

        let boot_as_root = install(&InstallOptions {
            root: &sd.boot,
            ..options(&sd, &rpi3)
        })
        .unwrap_err();
        assert!(
            boot_as_root.to_string().contains("--boot"),
            "{boot_as_root}"
        );

        let not_boot = install(&InstallOptions {
            boot: Some(&sd.root),
            ..options(&sd, &rpi3)
        })
        .unwrap_err();
        assert!(matches!(
            not_boot,
            InstallError::NotABootPartition {
                missing: "config.txt",
                ..
            }
        ));

        fs::remove_file(sd.boot.join("cmdline.txt")).unwrap();
        let error = sd.install(&rpi3).unwrap_err();
        assert!(
            matches!(error, InstallError::BootNotFound { .. }),
            "{error}"
        );
    }

    #[test]
    fn nothing_is_written_for_bad_requests() {
        let sd = Sd::new();
        let before = sd.snapshot();
        let error = sd.install(&board("desktop")).unwrap_err();
        assert!(
            matches!(error, InstallError::NothingToInstall { .. }),
            "{error}"
        );

        write(&sd.binary, program(0x3E));
        let error = sd.install(&board("rpi3")).unwrap_err();
        assert!(error.to_string().contains("x86-64"), "{error}");
        assert!(
            error.to_string().contains("aarch64-unknown-linux-gnu"),
            "{error}"
        );
        write(&sd.binary, "#!/bin/sh\n");
        let error = sd.install(&board("rpi3")).unwrap_err();
        assert!(error.to_string().contains("no ELF header"), "{error}");
        write(&sd.binary, program(0xB7));

        let rpi3 = board("rpi3");
        let error = install(&InstallOptions {
            user: "Pi User",
            ..options(&sd, &rpi3)
        })
        .unwrap_err();
        assert!(matches!(error, InstallError::UserName { .. }), "{error}");

        write(&sd.settings, "{\"audio\": {\"sampleRate\": \"fast\"}}");
        let error = sd.install(&rpi3).unwrap_err();
        assert!(matches!(error, InstallError::Settings(_)), "{error}");
        assert!(error.to_string().contains("audio.sampleRate"), "{error}");
        assert_eq!(sd.snapshot(), before);
    }

    #[test]
    fn what_the_card_lacks_is_reported() {
        let sd = Sd::new();
        write(&sd.on_pi("/etc/group"), "root:x:0:\naudio:x:29:\n");
        write(
            &sd.on_pi("/etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\n",
        );
        write(&sd.binary, program(0x28));
        let rpi3 = board("rpi3");
        let report = install(&InstallOptions {
            user: "synth",
            ..options(&sd, &rpi3)
        })
        .unwrap();
        let notes = report.notes.join("\n");
        assert!(notes.contains("dialout, gpio, i2c"), "{notes}");
        assert!(notes.contains("user `synth`"), "{notes}");
        assert!(notes.contains("32-bit ARM"), "{notes}");
        let unit = sd.unit();
        assert!(
            unit.lines().any(|line| line == "SupplementaryGroups=audio"),
            "{unit}"
        );
        assert!(unit.lines().any(|line| line == "User=synth"), "{unit}");
        assert!(
            unit.contains("ExecStartPre=+/bin/chown synth: /opt/open-nsynth"),
            "{unit}"
        );
    }

    #[test]
    fn programs_are_recognised_by_their_header() {
        assert_eq!(Arch::of_program(&program(0xB7)), Ok(Arch::Arm64));
        assert_eq!(Arch::of_program(&program(0x28)), Ok(Arch::Arm32));
        let mut big_endian = program(0);
        big_endian[5] = 2;
        big_endian[18..20].copy_from_slice(&0x28u16.to_be_bytes());
        assert_eq!(Arch::of_program(&big_endian), Ok(Arch::Arm32));
        assert!(Arch::of_program(b"\x7fELF").is_err());
    }
}
