//! The image made from a small synthetic Raspberry Pi OS image (a FAT boot partition and an
//! ext4 root built from the install tests' card), read back through the same disk code and
//! debugfs.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::disk::ext4::Kind;
use crate::install::fixture::{board, Sd, SMALL_PAD_BYTES};
use crate::install::read_only::{DATA_DIR, PADS_DIR};

struct Case {
    sd: Sd,
    dir: tempfile::TempDir,
    base: PathBuf,
    pads: PathBuf,
    board: Board,
}

impl Case {
    fn new() -> Case {
        let sd = Sd::new();
        let pads = sd.pads_output();
        // A fresh Raspberry Pi OS image has no user and boots through its first-boot program.
        fs::write(sd.on_pi("/etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        let cmdline = sd.boot.join("cmdline.txt");
        let first_boot = fs::read_to_string(&cmdline).unwrap().trim_end().to_owned()
            + " init=/usr/lib/raspberrypi-sys-mods/firstboot\n";
        fs::write(&cmdline, first_boot).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("raspios.img");
        sd.disk_image(&base);
        Case {
            sd,
            dir,
            base,
            pads,
            board: board("rpi4"),
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn make_from(
        &self,
        base: &Path,
        out: &Path,
        system: System,
    ) -> Result<ImageReport, ImageError> {
        let scratch = tempfile::tempdir_in(self.dir.path()).unwrap();
        make(&ImageOptions {
            base,
            board: &self.board,
            out,
            binary: &self.sd.binary,
            settings: &self.pads.join("settings.json"),
            pads: &self.pads,
            user: "pi",
            system,
            scratch: scratch.path(),
        })
    }

    fn make(&self, out: &Path) -> Result<ImageReport, ImageError> {
        self.make_from(&self.base, out, System::default())
    }
}

/// The file systems of an image, for reading back.
struct Made {
    disk: Disk,
}

impl Made {
    fn open(path: &Path) -> Made {
        Made {
            disk: Disk::open(path).unwrap(),
        }
    }

    fn fs(&self, number: usize) -> Ext4 {
        Ext4::open(&self.disk, &self.disk.partition(number).unwrap(), 0).unwrap()
    }

    fn root(&self, path: &str) -> String {
        String::from_utf8(self.fs(2).read(path).unwrap().unwrap_or_default()).unwrap()
    }

    fn boot(&self, name: &str) -> String {
        let fat = Fat::open(&self.disk, self.disk.partition(1).unwrap()).unwrap();
        String::from_utf8(fat.read(name).unwrap().unwrap()).unwrap()
    }
}

/// What `debugfs stat` says of a path: its mode and owner.
fn stat(fs: &Ext4, path: &str) -> String {
    let output = std::process::Command::new("debugfs")
        .arg("-R")
        .arg(format!("stat {path}"))
        .arg(format!(
            "{}?offset={}",
            fs_disk(fs).0.display(),
            fs_disk(fs).1
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn fs_disk(fs: &Ext4) -> (PathBuf, u64) {
    fs.location()
}

#[test]
fn an_image_holds_the_instrument_in_the_read_only_layout() {
    let case = Case::new();
    let out = case.out("nsynth.img");
    let report = case.make(&out).unwrap();
    assert!(report.to_string().contains("pads: 2 copied"), "{report}");
    let made = Made::open(&out);

    // The partitions: boot and root where they were, pads and data after them.
    let parts = made.disk.partitions();
    assert_eq!(parts.len(), 4, "{parts:?}");
    assert_eq!(parts[0].start, 4 << 20);
    assert!(parts[2].start >= parts[1].end() && parts[3].start >= parts[2].end());
    assert_eq!(fs::metadata(&out).unwrap().len(), parts[3].end());
    assert_eq!(made.disk.id(), crate::install::fixture::PARTUUID);

    // Boot: the board's lines, no serial console, the overlay in place of the first-boot program.
    let cmdline = made.boot("cmdline.txt");
    assert!(
        cmdline.ends_with(" ro init=/opt/open-nsynth/overlay-init\n"),
        "{cmdline}"
    );
    assert!(
        !cmdline.contains("firstboot") && !cmdline.contains("serial0"),
        "{cmdline}"
    );
    assert!(made
        .boot("config.txt")
        .contains("# >>> open-nsynth: board rpi4"));

    // Root: program, settings pointing at the partitions, service, mounts, user.
    let root = made.fs(2);
    assert_eq!(
        root.read("/opt/open-nsynth/open-nsynth").unwrap().unwrap(),
        fs::read(&case.sd.binary).unwrap()
    );
    assert!(stat(&root, "/opt/open-nsynth/open-nsynth").contains("Mode:  0755"));
    assert!(stat(&root, "/opt/open-nsynth/overlay-init").contains("Mode:  0755"));
    let settings: serde_json::Value =
        serde_json::from_str(&made.root("/opt/open-nsynth/settings.json")).unwrap();
    assert_eq!(settings["nsynth"]["dataDirectory"], PADS_DIR);
    assert_eq!(settings["patchFile"], format!("{DATA_DIR}/patches.json"));
    let unit = made.root("/etc/systemd/system/open-nsynth.service");
    assert!(unit
        .contains("RequiresMountsFor=/opt/open-nsynth /opt/open-nsynth/pads /var/lib/open-nsynth"));
    assert_eq!(
        root.kind("/etc/systemd/system/multi-user.target.wants/open-nsynth.service")
            .unwrap(),
        Some(Kind::Link)
    );
    assert_eq!(root.kind(PADS_DIR).unwrap(), Some(Kind::Folder));
    assert_eq!(root.kind(DATA_DIR).unwrap(), Some(Kind::Folder));
    assert!(made.root("/etc/fstab").contains(&format!(
        "PARTUUID={}-04 /var/lib/open-nsynth ext4 rw,noatime,sync,data=journal",
        crate::install::fixture::PARTUUID
    )));
    assert!(made
        .root("/etc/passwd")
        .contains("pi:x:1000:1000::/home/pi:/bin/bash"));
    assert!(
        made.root("/etc/shadow").starts_with("pi:!:")
            || made.root("/etc/shadow").contains("\npi:!:")
    );
    assert!(stat(&root, "/home/pi").contains("User:  1000   Group:  1000"));
    assert!(stat(&root, "/etc/shadow").contains("Mode:  0640"));
    assert_eq!(
        root.kind("/etc/systemd/system/userconfig.service").unwrap(),
        Some(Kind::Link)
    );

    // Pads partition: exactly the pads; data partition: empty, the user's.
    let pads = made.fs(3);
    for name in ["bass_guitar_organ_reed.bin", "flute_mallet_brass_vocal.bin"] {
        let pad = pads.read(&format!("/{name}")).unwrap().unwrap();
        assert_eq!(pad.len(), SMALL_PAD_BYTES);
    }
    assert_eq!(pads.kind("/settings.json").unwrap(), None);
    assert!(stat(&made.fs(4), "/").contains("User:  1000   Group:  1000"));
    assert!(!fs::read_dir(case.dir.path()).unwrap().any(|entry| entry
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("partial")));
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let case = Case::new();
    let (one, two) = (case.out("one.img"), case.out("two.img"));
    case.make(&one).unwrap();
    case.make(&two).unwrap();
    let (one, two) = (fs::read(&one).unwrap(), fs::read(&two).unwrap());
    assert_eq!(one.len(), two.len());
    if let Some(at) = (0..one.len()).find(|&i| one[i] != two[i]) {
        let disk = Disk::open(&case.out("one.img")).unwrap();
        let partition = disk
            .partitions()
            .into_iter()
            .find(|p| p.start <= at as u64 && (at as u64) < p.end());
        panic!("the images differ first at byte {at}, in {partition:?}");
    }
}

#[test]
fn an_xz_download_is_unpacked_and_a_cut_one_refused() {
    use std::io::Write as _;
    let case = Case::new();
    let xz = case.out("raspios.img.xz");
    let mut encoder = liblzma::write::XzEncoder::new(fs::File::create(&xz).unwrap(), 1);
    encoder.write_all(&fs::read(&case.base).unwrap()).unwrap();
    encoder.finish().unwrap();
    let out = case.out("from-xz.img");
    case.make_from(&xz, &out, System::default()).unwrap();
    assert_eq!(Made::open(&out).disk.partitions().len(), 4);

    let bytes = fs::read(&xz).unwrap();
    let cut = case.out("cut.img.xz");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = case.out("from-cut.img");
    let error = case.make_from(&cut, &out, System::default()).unwrap_err();
    assert!(error.to_string().contains("cut short"), "{error}");
    assert!(!out.exists());
}

#[test]
fn bases_that_are_not_raspberry_pi_os_are_refused_saying_what_was_found() {
    let case = Case::new();
    let out = case.out("nsynth.img");
    let refused = |base: &Path, expected: &str| {
        let error = case.make_from(base, &out, System::default()).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
        assert!(!out.exists());
        let left: Vec<_> = fs::read_dir(case.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name.to_string_lossy().contains("nsynth.img"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    };

    let gzip = case.out("base.img.gz");
    fs::write(&gzip, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    refused(&gzip, "compressed with gzip");

    let bytes = fs::read(&case.base).unwrap();
    let cut = case.out("cut.img");
    fs::write(&cut, &bytes[..bytes.len() - (1 << 20)]).unwrap();
    refused(&cut, "the download was cut short");

    let no_table = case.out("zeros.img");
    fs::write(&no_table, vec![0u8; 4096]).unwrap();
    refused(&no_table, "no MBR partition table");

    // Partition 1 made a Linux partition: no boot partition.
    let linux_boot = case.out("linux-boot.img");
    fs::write(&linux_boot, &bytes).unwrap();
    let mut disk = Disk::open(&linux_boot).unwrap();
    let boot = disk.partition(1).unwrap();
    disk.set_partition(1, boot.start, boot.size, 0x83).unwrap();
    refused(&linux_boot, "partition 1 is not a FAT boot partition");

    // An image already set up has more partitions than a download.
    let made = case.out("made.img");
    case.make(&made).unwrap();
    refused(&made, "more partitions than Raspberry Pi OS ships");
}

#[test]
fn pads_that_do_not_match_their_settings_are_refused_before_anything_is_written() {
    let case = Case::new();
    fs::write(case.pads.join("bass_guitar_organ_reed.bin"), [0u8; 10]).unwrap();
    let out = case.out("nsynth.img");
    let error = case.make(&out).unwrap_err();
    assert!(
        error.to_string().contains("bass_guitar_organ_reed.bin"),
        "{error}"
    );
    assert!(!out.exists());
}

#[test]
fn host_name_ssh_and_wifi_are_set_and_checked() {
    let case = Case::new();
    let key = case.out("id.pub");
    fs::write(&key, "ssh-ed25519 AAAAC3Nza me@desk\n").unwrap();
    let out = case.out("nsynth.img");
    let system = System {
        hostname: Some("nsynth"),
        ssh_key: Some(&key),
        wifi: Some(Wifi {
            country: "GB",
            ssid: "Studio",
            psk: "a long passphrase",
        }),
    };
    case.make_from(&case.base, &out, system).unwrap();
    let made = Made::open(&out);
    assert_eq!(made.root("/etc/hostname"), "nsynth\n");
    assert!(made.root("/etc/hosts").contains("127.0.1.1\tnsynth"));
    assert_eq!(
        made.root("/home/pi/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3Nza me@desk\n"
    );
    assert!(stat(&made.fs(2), "/home/pi/.ssh").contains("User:  1000   Group:  1000"));
    assert!(stat(&made.fs(2), "/home/pi/.ssh/authorized_keys").contains("Mode:  0600"));
    let wifi = made.root("/etc/NetworkManager/system-connections/open-nsynth-wifi.nmconnection");
    assert!(wifi.contains("ssid=Studio\n") && wifi.contains("psk=a long passphrase\n"));
    assert!(made
        .boot("cmdline.txt")
        .contains("cfg80211.ieee80211_regdom=GB"));

    for (system, option) in [
        (
            System {
                hostname: Some("No Spaces"),
                ..System::default()
            },
            "--hostname",
        ),
        (
            System {
                ssh_key: Some(&case.sd.settings),
                ..System::default()
            },
            "--ssh-key",
        ),
        (
            System {
                wifi: Some(Wifi {
                    country: "gb",
                    ssid: "x",
                    psk: "12345678",
                }),
                ..System::default()
            },
            "--wifi-country",
        ),
        (
            System {
                wifi: Some(Wifi {
                    country: "GB",
                    ssid: "x",
                    psk: "short",
                }),
                ..System::default()
            },
            "--wifi-psk",
        ),
    ] {
        let out = case.out("refused.img");
        let error = case.make_from(&case.base, &out, system).unwrap_err();
        assert!(error.to_string().starts_with(option), "{error}");
        assert!(!out.exists());
    }
}

#[test]
fn a_program_needing_a_newer_c_library_than_the_bases_is_refused() {
    use crate::install::fixture::program_needing;
    let case = Case::new();
    // The base's C library, behind a link as older systems keep it: this machine's own.
    let library = crate::install::fixture::this_machines_c_library();
    let folder = case.sd.on_pi("/lib/aarch64-linux-gnu");
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("libc-2.99.so"), library).unwrap();
    std::os::unix::fs::symlink("libc-2.99.so", folder.join("libc.so.6")).unwrap();
    let base = case.out("with-libc.img");
    case.sd.disk_image(&base);
    fs::write(&case.sd.binary, program_needing(b"GLIBC_9.9.5")).unwrap();
    let out = case.out("nsynth.img");
    let error = case.make_from(&base, &out, System::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("needs the GNU C library 9.9 or later, and the card has 2."),
        "{error}"
    );
    assert!(!out.exists());
    // As built, the program passes the check.
    fs::write(&case.sd.binary, program_needing(b"GLIBC_2.2.5")).unwrap();
    case.make_from(&base, &out, System::default()).unwrap();
    assert!(out.exists());
}

#[test]
fn a_root_file_system_too_full_for_the_program_is_an_error_that_says_so() {
    let case = Case::new();
    // 30 MB that cannot be made smaller (no sections to strip), on a 24 MiB root.
    let mut large = crate::install::fixture::program(0xB7);
    large.resize(30 << 20, 7);
    fs::write(&case.sd.binary, large).unwrap();
    let out = case.out("nsynth.img");
    let error = case.make(&out).unwrap_err();
    assert!(error.to_string().contains("partition 2 is full"), "{error}");
    assert!(!out.exists());
}
