//! The image's root and boot file systems as a folder the installer can work on: the files it
//! reads are copied out of the image into a staging folder ([`extract`]), and what it created or
//! changed there is written back into the image ([`write_back`]): into the ext4 root through
//! debugfs, into the FAT boot partition through fatfs. Everything written back belongs to root,
//! except what lies in the service user's home. It never writes back a file nobody reported.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::ImageError;
use crate::disk::ext4::{Ext4, Kind, Owner};
use crate::disk::fat::Fat;
use crate::disk::io_error;

/// The root's files that installing reads, when the image has them.
const ROOT_FILES: [&str; 11] = [
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/modules",
    "/etc/fstab",
    "/etc/hostname",
    "/etc/hosts",
    "/opt/open-nsynth/settings.json",
    "/opt/open-nsynth/board.toml",
    "/opt/open-nsynth/patches.json",
];
/// Paths installing only checks are there, as a Raspberry Pi OS root has them.
const ROOT_MARKS: [(&str, Kind); 2] = [
    ("/etc/os-release", Kind::Link),
    ("/etc/systemd/system", Kind::Folder),
];
/// Where the C library may be, for the installer's check of the version the program needs.
const LIBRARIES: [&str; 4] = [
    "/usr/lib/aarch64-linux-gnu/libc.so.6",
    "/lib/aarch64-linux-gnu/libc.so.6",
    "/usr/lib/arm-linux-gnueabihf/libc.so.6",
    "/lib/arm-linux-gnueabihf/libc.so.6",
];
/// The boot partition's files that installing edits.
const BOOT_FILES: [&str; 2] = ["config.txt", "cmdline.txt"];
/// Where the boot partition is mounted in the root.
pub(super) const BOOT_DIR: &str = "/boot/firmware";

/// The staging folder: the root's files under `root`, the boot partition's under `boot`.
pub(super) struct Stage {
    pub root: PathBuf,
    pub boot: PathBuf,
}

/// Copies what installing reads out of the image into `folder`. A base that lacks the marks of a
/// Raspberry Pi OS root or boot partition is refused, naming what is missing.
pub(super) fn extract(root_fs: &Ext4, fat: &Fat, folder: &Path) -> Result<Stage, ImageError> {
    let stage = Stage {
        root: folder.join("root"),
        boot: folder.join("root").join(BOOT_DIR.trim_start_matches('/')),
    };
    fs::create_dir_all(&stage.boot).map_err(io_error("create", &stage.boot))?;
    for (path, _) in ROOT_MARKS {
        let here = stage.here(path);
        match root_fs.kind(path)? {
            None => {
                return Err(ImageError::NotRaspberryPiOs {
                    problem: format!("its root file system (partition 2) has no {path}"),
                })
            }
            Some(Kind::Folder) => fs::create_dir_all(&here).map_err(io_error("create", &here))?,
            Some(_) => put(&here, b"")?,
        }
    }
    for path in ROOT_FILES {
        if let Some(bytes) = root_fs.read(path)? {
            put(&stage.here(path), &bytes)?;
        }
    }
    for path in LIBRARIES {
        if let Some(bytes) = read_following_link(root_fs, path)? {
            put(&stage.here(path), &bytes)?;
        }
    }
    for name in BOOT_FILES {
        let bytes = fat
            .read(name)?
            .ok_or_else(|| ImageError::NotRaspberryPiOs {
                problem: format!("its boot partition (partition 1) has no {name}"),
            })?;
        put(&stage.boot.join(name), &bytes)?;
    }
    Ok(stage)
}

/// The file at `path`, or at the target of the link there (one link, as libraries have).
fn read_following_link(root_fs: &Ext4, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
    if root_fs.kind(path)? != Some(Kind::Link) {
        return Ok(root_fs.read(path)?);
    }
    let Some(target) = root_fs.link_target(path)? else {
        return Ok(None);
    };
    let folder = Path::new(path).parent().unwrap_or(Path::new("/"));
    let resolved = folder.join(target);
    Ok(root_fs.read(&resolved.to_string_lossy())?)
}

impl Stage {
    /// Where the root's `path` is staged.
    pub(super) fn here(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The root's path of something staged, when it is in the root's staging.
    fn on_root(&self, here: &Path) -> Option<String> {
        let inside = here.strip_prefix(&self.root).ok()?;
        Some(format!("/{}", inside.to_str()?))
    }
}

fn put(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    if let Some(folder) = path.parent() {
        fs::create_dir_all(folder).map_err(io_error("create", folder))?;
    }
    Ok(fs::write(path, bytes).map_err(io_error("write", path))?)
}

/// Writes every staged path in `written` back into the image: boot files into the FAT
/// partition, the rest (with the folders above them that the image lacks) into the root, owned
/// by root, or by `home_owner` under its home folder. Returns how many were written.
pub(super) fn write_back(
    root_fs: &Ext4,
    fat: &Fat,
    stage: &Stage,
    written: &[PathBuf],
    home: (&str, Owner),
    scratch: &Path,
) -> Result<usize, ImageError> {
    let mut edits = root_fs.edits();
    let mut made: Vec<String> = Vec::new();
    let mut count = 0;
    let mut paths: Vec<&PathBuf> = written.iter().collect();
    paths.sort();
    paths.dedup();
    for here in paths {
        if let Ok(name) = here.strip_prefix(&stage.boot) {
            let bytes = fs::read(here).map_err(io_error("read", here))?;
            fat.write(&name.to_string_lossy(), &bytes)?;
            count += 1;
            continue;
        }
        if here.starts_with(&stage.boot) {
            continue;
        }
        let Some(path) = stage.on_root(here) else {
            continue;
        };
        let owner = |path: &str| {
            if Path::new(path).starts_with(home.0) {
                home.1
            } else {
                Owner::ROOT
            }
        };
        let ancestors: Vec<&Path> = Path::new(&path).ancestors().skip(1).collect();
        for folder in ancestors.into_iter().rev().skip(1) {
            let folder = folder.to_string_lossy().into_owned();
            if !made.contains(&folder) && root_fs.kind(&folder)?.is_none() {
                edits.folder(&folder, mode_of(&stage.here(&folder))?, owner(&folder))?;
                made.push(folder);
            }
        }
        let metadata = fs::symlink_metadata(here).map_err(io_error("read", here))?;
        if metadata.is_symlink() {
            let target = fs::read_link(here).map_err(io_error("read", here))?;
            edits.link(&path, &target.to_string_lossy(), owner(&path))?;
        } else if metadata.is_dir() {
            if !made.contains(&path) {
                edits.folder(&path, mode_of(here)?, owner(&path))?;
                made.push(path);
            }
        } else {
            edits.file(&path, here, mode_of(here)?, owner(&path))?;
        }
        count += 1;
    }
    edits.apply(scratch)?;
    Ok(count)
}

fn mode_of(here: &Path) -> Result<u32, ImageError> {
    let metadata = fs::metadata(here).map_err(io_error("read", here))?;
    Ok(metadata.permissions().mode() & 0o7777)
}
