//! Finding the card's partitions: checks that the root given is a Raspberry Pi OS root file
//! system, and finds its boot partition (given, mounted inside the root, or mounted beside it
//! and booting this very root). It never writes anything.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::InstallError;

pub(super) fn check_root(root: &Path) -> Result<(), InstallError> {
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
pub(super) fn find_boot(root: &Path, explicit: Option<&Path>) -> Result<PathBuf, InstallError> {
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

/// The whole disk holding the file system mounted at `root` (`/dev/sdb` for a root on
/// `/dev/sdb2`), found through the kernel's block device records.
pub(super) fn find_disk(root: &Path) -> Result<PathBuf, InstallError> {
    use std::os::unix::fs::MetadataExt as _;
    let problem = |problem: String| InstallError::NoDisk {
        root: root.to_path_buf(),
        problem,
    };
    let dev = fs::metadata(root)
        .map_err(|error| problem(error.to_string()))?
        .dev();
    let (major, minor) = (
        ((dev >> 32) & !0xfff) | ((dev >> 8) & 0xfff),
        ((dev >> 12) & !0xff) | (dev & 0xff),
    );
    let record = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    let partition = fs::canonicalize(&record)
        .map_err(|_| problem(format!("it is not on a block device ({major}:{minor})")))?;
    if !partition.join("partition").is_file() {
        return Err(problem(format!(
            "{} is not a partition of a disk",
            partition.display()
        )));
    }
    let disk = partition
        .parent()
        .and_then(Path::file_name)
        .ok_or_else(|| problem(format!("{} has no disk", partition.display())))?;
    Ok(Path::new("/dev").join(disk))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::install::fixture::{board, options, read, write, Sd};
    use crate::install::{install, InstallError, InstallOptions};

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
}
