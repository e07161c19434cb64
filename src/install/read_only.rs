//! The read-only layout (`install --read-only`, and every image): the root file system stays
//! read-only under an overlay in RAM from the first process on; the pads live on a partition of
//! their own, mounted read-only; everything the instrument writes (patches, learned MIDI maps)
//! lives on a small data partition mounted with synchronous, fully journaled writes. So a power
//! cut can lose at most the write under way, never the system or a saved patch. Here: the
//! overlay's init program, the mount lines in `/etc/fstab`, the kernel command line, the
//! settings' two paths, and the two partitions. It never moves the boot or root partition and
//! never empties a data partition that exists.

use std::path::Path;

use super::card::Card;
use super::error::InstallError;
use crate::atomic::Mode;
use crate::disk::ext4::{self, Ext4, NewExt4, Owner};
use crate::disk::{align_up, Disk, DiskError, TYPE_LINUX};

/// Where the pads partition is mounted, read-only; the settings' `nsynth.dataDirectory`.
pub const PADS_DIR: &str = "/opt/open-nsynth/pads";
/// Where the data partition is mounted; the patch file (and the learned MIDI map beside it).
pub const DATA_DIR: &str = "/var/lib/open-nsynth";
/// The first process: puts the overlay over the root and starts systemd.
pub const OVERLAY_INIT: &str = "/opt/open-nsynth/overlay-init";

const PADS_PARTITION: usize = 3;
const DATA_PARTITION: usize = 4;
const DATA_BYTES: u64 = 64 << 20;
/// Room for the file system's own records in the pads partition, on top of the pads.
const PADS_SPARE: u64 = 8 << 20;

const FSTAB_BEGIN: &str = "# >>> open-nsynth";
const FSTAB_END: &str = "# <<< open-nsynth";

/// The settings as installed in the layout: pads from the pads partition, patches on the data
/// partition; every other key as given.
pub(super) fn settings_text(given: &str, path: &Path) -> Result<String, InstallError> {
    let mut json: serde_json::Value =
        serde_json::from_str(given).map_err(|cause| InstallError::Program {
            path: path.to_path_buf(),
            problem: format!("not JSON: {cause}"),
        })?;
    let Some(top) = json.as_object_mut() else {
        return Err(InstallError::Program {
            path: path.to_path_buf(),
            problem: "the settings are not a JSON object".to_owned(),
        });
    };
    top.insert(
        "patchFile".to_owned(),
        format!("{DATA_DIR}/patches.json").into(),
    );
    let nsynth = top
        .entry("nsynth")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if let Some(nsynth) = nsynth.as_object_mut() {
        nsynth.insert("dataDirectory".to_owned(), PADS_DIR.into());
    }
    let mut text = serde_json::to_string_pretty(&json).expect("a JSON value always serialises");
    text.push('\n');
    Ok(text)
}

/// Writes the root file system's side of the layout: the overlay's init program, the mount
/// points, the mount lines, and the kernel command line that starts the overlay.
pub(super) fn put_root(
    card: &mut Card,
    boot_dir: &Path,
    disk_id: &str,
) -> Result<(), InstallError> {
    card.put(
        &card.path(OVERLAY_INIT),
        OVERLAY_INIT_TEXT.as_bytes(),
        Mode::Exact(0o755),
    )?;
    for folder in [PADS_DIR, DATA_DIR] {
        card.folder(&card.on_root(folder))?;
    }
    let fstab = card.path("/etc/fstab");
    let block = fstab_block(disk_id);
    card.edit(&fstab, |text| {
        super::boot_files::with_block(text, &block).map_err(|(line, problem)| InstallError::Block {
            path: fstab.clone(),
            line,
            problem,
        })
    })?;
    card.edit(&boot_dir.join("cmdline.txt"), |text| {
        Ok(read_only_cmdline(text))
    })
}

fn fstab_block(disk_id: &str) -> String {
    format!(
        "{FSTAB_BEGIN}: read-only layout\n\
         # Written by open-nsynth; installing again replaces this block. The pads are only read; \
         every write to the data\n\
         # partition reaches the card (and its journal) before the program goes on.\n\
         PARTUUID={disk_id}-0{PADS_PARTITION} {PADS_DIR} ext4 ro,noatime,nofail,x-systemd.device-timeout=10s 0 0\n\
         PARTUUID={disk_id}-0{DATA_PARTITION} {DATA_DIR} ext4 rw,noatime,sync,data=journal,nofail,x-systemd.device-timeout=10s 0 0\n\
         {FSTAB_END}\n"
    )
}

/// The kernel command line that mounts the root read-only and starts the overlay's init in
/// place of any other (Raspberry Pi OS's first-boot init would grow the root over the new
/// partitions). `None` when it already does.
fn read_only_cmdline(cmdline: &str) -> Option<String> {
    let mut words: Vec<String> = cmdline
        .split_whitespace()
        .filter(|word| *word != "rw" && *word != "ro" && !word.starts_with("init="))
        .map(str::to_owned)
        .collect();
    words.push("ro".to_owned());
    words.push(format!("init={OVERLAY_INIT}"));
    let new = format!("{}\n", words.join(" "));
    (new != cmdline).then_some(new)
}

/// What to put on the pads partition, and who owns the data partition.
pub(super) struct Partitions<'a> {
    /// The pads to put on the pads partition, gathered in a folder; `None` keeps the partition's
    /// pads (or makes an empty one).
    pub pads: Option<&'a Path>,
    pub owner: Owner,
    pub stamp: u64,
    pub scratch: &'a Path,
}

/// Makes the pads partition (anew when there are pads to put) and, when the card has none yet,
/// the data partition, after the root partition. Returns how many pads the pads partition holds.
pub(super) fn put_partitions(disk: &mut Disk, what: &Partitions) -> Result<usize, DiskError> {
    make_partitions(disk, what)?;
    let pads = disk
        .partition(PADS_PARTITION)
        .expect("the pads partition was made");
    let names = Ext4::open(disk, &pads, what.stamp)?.names("/")?;
    Ok(names.iter().filter(|name| name.ends_with(".bin")).count())
}

/// Refuses, before anything is written, a disk on which the layout cannot be made with pads
/// of `pads_bytes` (`None`: no pads given).
pub(super) fn check_disk(disk: &Disk, pads_bytes: Option<u64>) -> Result<(), DiskError> {
    placement(disk, pads_bytes).map(drop)
}

/// Where the pads partition goes and how large it is for pads of `pads_bytes`, or `None` to keep
/// the one there (no pads given); refuses a disk the layout cannot use.
fn placement(disk: &Disk, pads_bytes: Option<u64>) -> Result<Option<(u64, u64)>, DiskError> {
    let root = disk.partition(2).ok_or_else(|| {
        DiskError::layout(disk.path(), "it has no partition 2 (the root file system)")
    })?;
    let pads_now = disk.partition(PADS_PARTITION);
    let data_now = disk.partition(DATA_PARTITION);
    if pads_now.is_none() && data_now.is_some() {
        // Making the pads partition could overwrite it; a saved patch is never put at risk.
        return Err(DiskError::layout(
            disk.path(),
            "it has a partition 4 but no partition 3, which is not the layout open-nsynth makes; \
             back up partition 4 and remove it, or make a new image",
        ));
    }
    if pads_bytes.is_none() && pads_now.is_some() {
        return Ok(None);
    }
    let needed = align_up(pads_bytes.unwrap_or(0) * 101 / 100 + PADS_SPARE);
    let start = pads_now.map_or(align_up(root.end()), |pads| pads.start);
    let room = match (pads_now, data_now) {
        (Some(pads), Some(data)) if pads.end() <= data.start => data.start - pads.start,
        _ => needed,
    };
    if needed > room {
        return Err(DiskError::layout(
            disk.path(),
            format!(
                "the pads need {} MiB and the pads partition has room for {} MiB before the data \
                 partition; make a new image for this many pads",
                needed >> 20,
                room >> 20
            ),
        ));
    }
    if let Some(other) = disk
        .partitions()
        .into_iter()
        .find(|p| p.number != PADS_PARTITION && p.number != DATA_PARTITION && p.end() > start)
    {
        return Err(DiskError::layout(
            disk.path(),
            format!(
                "partition {} lies after the root partition; the layout needs that room",
                other.number
            ),
        ));
    }
    Ok(Some((start, needed)))
}

fn make_partitions(disk: &mut Disk, what: &Partitions) -> Result<(), DiskError> {
    let data_now = disk.partition(DATA_PARTITION);
    let pads_from = match what.pads {
        Some(folder) => folder.to_path_buf(),
        None => {
            let empty = what.scratch.join("no-pads");
            std::fs::create_dir_all(&empty).map_err(crate::disk::io_error("create", &empty))?;
            empty
        }
    };
    let pads_bytes = match what.pads {
        Some(folder) => Some(files_bytes(&folder_files(folder)?)?),
        None => None,
    };
    let Some((start, needed)) = placement(disk, pads_bytes)? else {
        return ensure_data(disk, what, data_now);
    };
    let pads = NewExt4 {
        label: "nsynth-pads",
        uuid: &fs_uuid(&disk.id(), PADS_PARTITION),
        bytes: needed,
        from: &pads_from,
        owner: Owner::ROOT,
        journal: false,
        stamp: what.stamp,
    };
    put_file_system(disk, PADS_PARTITION, start, &pads, what.scratch)?;
    ensure_data(disk, what, data_now)
}

/// Makes the data partition after the pads partition unless the card has one.
fn ensure_data(
    disk: &mut Disk,
    what: &Partitions,
    existing: Option<crate::disk::Partition>,
) -> Result<(), DiskError> {
    if existing.is_none() {
        let pads = disk
            .partition(PADS_PARTITION)
            .expect("the pads partition is made first");
        let empty = what.scratch.join("data");
        std::fs::create_dir_all(&empty).map_err(crate::disk::io_error("create", &empty))?;
        let data = NewExt4 {
            label: "nsynth-data",
            uuid: &fs_uuid(&disk.id(), DATA_PARTITION),
            bytes: DATA_BYTES,
            from: &empty,
            owner: what.owner,
            journal: true,
            stamp: what.stamp,
        };
        put_file_system(
            disk,
            DATA_PARTITION,
            align_up(pads.end()),
            &data,
            what.scratch,
        )?;
    }
    disk.sync()
}

/// Makes the file system `spec` says (in a file in `scratch`) and puts it in partition `number`
/// at byte `start`.
fn put_file_system(
    disk: &mut Disk,
    number: usize,
    start: u64,
    spec: &NewExt4,
    scratch: &Path,
) -> Result<(), DiskError> {
    let image = scratch.join(format!("partition-{number}.ext4"));
    ext4::make(&image, spec)?;
    disk.set_partition(number, start, spec.bytes, TYPE_LINUX)?;
    disk.copy_in(&image, start)?;
    std::fs::remove_file(&image).map_err(crate::disk::io_error("remove", &image))
}

/// A file system UUID fixed by the disk and the partition, so the same card gets the same one.
fn fs_uuid(disk_id: &str, partition: usize) -> String {
    format!("{disk_id}-6e73-4000-8000-0000000000{partition:02x}")
}

/// The files in `folder`.
fn folder_files(folder: &Path) -> Result<Vec<std::path::PathBuf>, DiskError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(crate::disk::io_error("read", folder))? {
        files.push(entry.map_err(crate::disk::io_error("read", folder))?.path());
    }
    Ok(files)
}

/// The bytes `files` take up, each rounded up to whole 4 KiB blocks.
pub(super) fn files_bytes(files: &[std::path::PathBuf]) -> Result<u64, DiskError> {
    let mut total = 0;
    for file in files {
        let len = std::fs::metadata(file)
            .map_err(crate::disk::io_error("read", file))?
            .len();
        total += len.div_ceil(4096) * 4096;
    }
    Ok(total)
}

/// The overlay's init program (`/bin/sh`, as the kernel starts it with nothing else running).
const OVERLAY_INIT_TEXT: &str = r#"#!/bin/sh
# Written by open-nsynth for the read-only layout; installing again replaces this file.
# The kernel starts this as the first process, with the card's root file system mounted
# read-only. It puts that file system under an overlay whose changes live in RAM, so nothing is
# ever written to it however the power goes off, mounts the pads and data partitions (as
# /etc/fstab says, but now rather than once udev has seen them, which is seconds later), and
# starts systemd inside the overlay. When the overlay cannot be made, systemd starts on the
# read-only root itself.
# Nothing here may write the root, so no mount updates a mount table (-n).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

plain() {
    echo "open-nsynth overlay: $1; starting on the read-only root file system" >/dev/console
    exec /sbin/init "$@"
}

[ -d /proc/self ] || mount -n -t proc proc /proc
[ -d /sys/dev ] || mount -n -t sysfs sysfs /sys
grep -qw overlay /proc/filesystems || modprobe overlay || plain "no overlay file system"
mount -n -t tmpfs -o mode=0755 open-nsynth-ram /mnt || plain "no RAM file system"
mkdir -p /mnt/lower /mnt/upper /mnt/work /mnt/root
mount -n --bind / /mnt/lower || plain "cannot bind the root"
mount -n -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/upper,workdir=/mnt/work open-nsynth-root /mnt/root ||
    plain "cannot mount the overlay"
# systemd must not remount the root read-write: the overlay's fstab has no line for it.
sed -i '/^[[:space:]]*[^#[:space:]][^[:space:]]*[[:space:]][[:space:]]*\/[[:space:]]/d' /mnt/root/etc/fstab

# Partition N of the disk the root is on, as a device node.
root=$(awk '$5 == "/" { device = $3 } END { print device }' /proc/self/mountinfo)
disk=$(dirname "$(readlink -f "/sys/dev/block/$root")")
partition() {
    for number in "$disk"/*/partition; do
        [ "$(cat "$number")" = "$1" ] && echo "/dev/$(basename "$(dirname "$number")")"
    done
}
pads=$(partition 3)
data=$(partition 4)
[ -b "$pads" ] && mount -n -t ext4 -o ro,noatime "$pads" /mnt/root/opt/open-nsynth/pads
[ -b "$data" ] && mount -n -t ext4 -o rw,noatime,sync,data=journal "$data" /mnt/root/var/lib/open-nsynth

mkdir -p /mnt/root/media/root-ro
for fs in dev proc sys run; do
    mountpoint -q "/$fs" && mount -n --move "/$fs" "/mnt/root/$fs"
done
cd /mnt/root
pivot_root . media/root-ro || plain "cannot switch to the overlay"
exec /sbin/init "$@" <dev/console >dev/console 2>&1
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_mounts_the_root_read_only_through_the_overlay() {
        let stock = "console=tty1 root=PARTUUID=5e3da7a1-02 rootfstype=ext4 fsck.repair=yes \
                     rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n";
        let new = read_only_cmdline(stock).unwrap();
        assert_eq!(
            new,
            "console=tty1 root=PARTUUID=5e3da7a1-02 rootfstype=ext4 fsck.repair=yes rootwait \
             quiet ro init=/opt/open-nsynth/overlay-init\n"
        );
        assert_eq!(read_only_cmdline(&new), None);
        assert_eq!(
            read_only_cmdline("root=/dev/x rw").as_deref(),
            Some("root=/dev/x ro init=/opt/open-nsynth/overlay-init\n")
        );
    }

    #[test]
    fn the_settings_point_at_the_two_partitions_and_keep_every_other_key() {
        let given = r#"{"nsynth": {"dataDirectory": "pads", "resolution": 3}, "patchFile": "p.json", "osc": {"in": {"port": 9000}}}"#;
        let text = settings_text(given, Path::new("s.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["nsynth"]["dataDirectory"], PADS_DIR);
        assert_eq!(json["nsynth"]["resolution"], 3);
        assert_eq!(json["patchFile"], "/var/lib/open-nsynth/patches.json");
        assert_eq!(json["osc"]["in"]["port"], 9000);
        assert!(settings_text("[1]", Path::new("s.json")).is_err());
    }

    #[test]
    fn the_mount_lines_name_the_disks_partitions() {
        let block = fstab_block("5e3da7a1");
        assert!(block.contains("PARTUUID=5e3da7a1-03 /opt/open-nsynth/pads ext4 ro,"));
        assert!(block.contains(
            "PARTUUID=5e3da7a1-04 /var/lib/open-nsynth ext4 rw,noatime,sync,data=journal,"
        ));
    }
}
