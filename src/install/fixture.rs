//! A Raspberry Pi OS card on disk for the install tests, as a desktop mounts a freshly written
//! one, with a program and settings to install. It is test code only and never touches anything
//! outside its temporary folder.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::{install, InstallError, InstallOptions, InstallReport, DEFAULT_USER};
use crate::board::Board;

pub(crate) const PARTUUID: &str = "4e639091";

/// config.txt as a Bookworm image ships it, shortened; it ends inside a `[cm4]` section.
pub(super) const STOCK_CONFIG: &str = "\
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

pub(super) const STOCK_MODULES: &str = "\
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
pub(crate) fn program(machine: u16) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2; // 64-bit
    bytes[5] = 1; // little-endian
    bytes[6] = 1; // version
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    bytes.extend((0..=255u8).cycle().take(4000));
    bytes
}

pub(crate) fn write(path: &Path, text: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

pub(crate) fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

/// A freshly written Raspberry Pi OS card as a desktop mounts it, the program and the
/// settings to install.
pub(crate) struct Sd {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) boot: PathBuf,
    pub(crate) binary: PathBuf,
    pub(crate) settings: PathBuf,
}

impl Sd {
    pub(crate) fn new() -> Self {
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
        write(&settings, include_str!("../../settings.json"));
        Sd {
            _dir: dir,
            root,
            boot,
            binary,
            settings,
        }
    }

    pub(super) fn install(&self, board: &Board) -> Result<InstallReport, InstallError> {
        install(&InstallOptions {
            root: &self.root,
            boot: None,
            board,
            binary: &self.binary,
            settings: &self.settings,
            user: DEFAULT_USER,
            pads: None,
            read_only: None,
        })
    }

    /// Installs [`small_pad_settings`] and returns a folder like a pipeline's output: two pads
    /// the settings select, their records and the settings they were made with.
    pub(crate) fn pads_output(&self) -> PathBuf {
        let settings = small_pad_settings();
        write(&self.settings, &settings);
        let dir = self.root.parent().unwrap().join("pads_output");
        write(
            &dir.join("bass_guitar_organ_reed.bin"),
            [1u8; SMALL_PAD_BYTES],
        );
        write(
            &dir.join("flute_mallet_brass_vocal.bin"),
            [2u8; SMALL_PAD_BYTES],
        );
        write(&dir.join("bass_guitar_organ_reed.provenance.json"), "{}");
        write(&dir.join("settings.json"), settings);
        dir
    }

    /// The card as one disk image at `path`, as Raspberry Pi OS is downloaded: an MBR whose
    /// disk id is [`PARTUUID`], the boot folder's files in a FAT partition 1 at 4 MiB and the root
    /// in an ext4 partition 2 after it.
    pub(crate) fn disk_image(&self, path: &Path) {
        use crate::disk::ext4::{make, NewExt4, Owner};
        use crate::disk::{fat::Fat, Disk};
        const BOOT: u64 = 16 << 20;
        const ROOT: u64 = 24 << 20;
        let root_fs = path.with_extension("root");
        make(
            &root_fs,
            &NewExt4 {
                label: "rootfs",
                uuid: "9c3f3c2e-6b0a-4b8e-9d3e-0b1c2d3e4f50",
                bytes: ROOT,
                from: &self.root,
                owner: Owner::ROOT,
                journal: true,
                stamp: 1_700_000_000,
            },
        )
        .unwrap();
        let mut sector = [0u8; 512];
        let id = u32::from_str_radix(PARTUUID, 16).unwrap().to_le_bytes();
        mbrman::MBRHeader::new(id)
            .write_into(&mut std::io::Cursor::new(&mut sector[..]))
            .unwrap();
        fs::write(path, sector).unwrap();
        let mut disk = Disk::open(path).unwrap();
        let boot = disk.set_partition(1, 4 << 20, BOOT, 0x0c).unwrap();
        disk.set_partition(2, (4 << 20) + BOOT, ROOT, 0x83).unwrap();
        disk.copy_in(&root_fs, (4 << 20) + BOOT).unwrap();
        fs::remove_file(&root_fs).unwrap();
        fatfs::format_volume(disk.window(&boot), fatfs::FormatVolumeOptions::new()).unwrap();
        let fat = Fat::open(&disk, boot).unwrap();
        for name in ["config.txt", "cmdline.txt"] {
            fat.write(name, &fs::read(self.boot.join(name)).unwrap())
                .unwrap();
        }
    }

    pub(crate) fn on_pi(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    pub(super) fn unit(&self) -> String {
        read(&self.on_pi("/etc/systemd/system/open-nsynth.service"))
    }

    /// Every file, link and folder under the card's root, with its inode (a rewritten file
    /// gets a new one), mode and contents.
    pub(super) fn snapshot(&self) -> BTreeMap<PathBuf, (String, Vec<u8>)> {
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

/// The shipped settings with pads of 2×2 points, one pitch and 8 samples: 64 bytes.
pub(crate) fn small_pad_settings() -> String {
    include_str!("../../settings.json")
        .replace("\"resolution\": 9", "\"resolution\": 2")
        .replace(
            "[24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80, 84]",
            "[60]",
        )
        .replace("\"length\": 60000", "\"length\": 8")
}

/// The size of a pad for [`small_pad_settings`].
pub(crate) const SMALL_PAD_BYTES: usize = 64;

pub(crate) fn board(name: &str) -> Board {
    Board::named(name).unwrap()
}

pub(super) fn options<'a>(sd: &'a Sd, board: &'a Board) -> InstallOptions<'a> {
    InstallOptions {
        root: &sd.root,
        boot: None,
        board,
        binary: &sd.binary,
        settings: &sd.settings,
        user: DEFAULT_USER,
        pads: None,
        read_only: None,
    }
}

/// This test's own program made to look like an arm64 build (its machine field changed) that
/// needs the C library `version` (its oldest version name, `GLIBC_2.2.5`, renamed in place).
pub(crate) fn program_needing(version: &[u8; 11]) -> Vec<u8> {
    let mut program = fs::read(std::env::current_exe().unwrap()).unwrap();
    program[18..20].copy_from_slice(&0xB7u16.to_le_bytes());
    let at = program
        .windows(11)
        .position(|window| window == b"GLIBC_2.2.5")
        .expect("an x86-64 program needs GLIBC_2.2.5");
    program[at..at + 11].copy_from_slice(version);
    program
}

/// This machine's own GNU C library (a Debian or Ubuntu x86-64 one), to stand for a card's.
pub(crate) fn this_machines_c_library() -> Vec<u8> {
    [
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/x86_64-linux-gnu/libc.so.6",
    ]
    .iter()
    .find_map(|path| fs::read(path).ok())
    .expect("a Debian or Ubuntu machine has its C library here")
}
