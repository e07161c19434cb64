//! `open-nsynth image`: a ready SD-card image made from an official Raspberry Pi OS Lite image,
//! offline and without root: the base is unpacked into the output's partial file, the files
//! installing reads are staged out of its partitions (`stage`), the installer sets up the
//! read-only layout on the stage and on the image's disk (pads and data partitions), the system
//! settings are added (`system`), and everything written is put back into the image's
//! partitions. Only a complete image takes the output's name. Time stamps and file system ids
//! are fixed, so the same inputs give the same bytes. `base` recognises and unpacks the
//! download. It never reads or writes a real card and never runs anything from the image.

mod base;
mod stage;
mod system;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::atomic::AtomicFile;
use crate::board::Board;
use crate::disk::ext4::{Ext4, Owner};
use crate::disk::fat::Fat;
use crate::disk::{Disk, DiskError};
use crate::install::{self, InstallError, InstallOptions, InstallReport, ReadOnly};
pub use system::{System, Wifi};

/// The time every file and file system of an image carries unless `SOURCE_DATE_EPOCH` says
/// otherwise: 2026-01-01 00:00 UTC.
const STAMP: u64 = 1_767_225_600;

/// What to make an image of.
#[derive(Debug, Clone, Copy)]
pub struct ImageOptions<'a> {
    /// Raspberry Pi OS Lite, `.img` or `.img.xz`.
    pub base: &'a Path,
    pub board: &'a Board,
    pub out: &'a Path,
    /// The program for the Pi.
    pub binary: &'a Path,
    pub settings: &'a Path,
    /// A folder of pads matching the settings.
    pub pads: &'a Path,
    /// The account the service runs as (made in the image).
    pub user: &'a str,
    pub system: System<'a>,
    /// A folder beside the output for temporary files (as large as the pads).
    pub scratch: &'a Path,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: not a base image to start from: {problem}")]
    Base { path: PathBuf, problem: String },
    #[error(
        "the base image is not Raspberry Pi OS: {problem}; start from Raspberry Pi OS Lite \
         (.img or .img.xz)"
    )]
    NotRaspberryPiOs { problem: String },
    #[error("{option}: {problem}")]
    Option { option: String, problem: String },
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// What was made.
#[derive(Debug)]
pub struct ImageReport {
    pub out: PathBuf,
    pub bytes: u64,
    pub disk_id: String,
    /// Root and boot files written, as paths on the Pi.
    pub written: Vec<String>,
    pub install: InstallReport,
}

impl fmt::Display for ImageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote on the image:")?;
        for path in &self.written {
            writeln!(f, "  {path}")?;
        }
        if let Some(pads) = &self.install.pads {
            writeln!(f, "{pads}")?;
        }
        for note in &self.install.notes {
            writeln!(f, "note: {note}")?;
        }
        write!(
            f,
            "Done: {} ({} MiB, disk id {}); flash it with Raspberry Pi Imager, Etcher or dd.",
            self.out.display(),
            self.bytes.div_ceil(1 << 20),
            self.disk_id
        )
    }
}

/// The time stamp of what is made: `SOURCE_DATE_EPOCH` when set, else 2026-01-01 00:00 UTC.
pub fn stamp() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(STAMP)
}

/// Makes the image. See the module documentation for the steps.
pub fn make(options: &ImageOptions) -> Result<ImageReport, ImageError> {
    // Everything that can be refused is, before anything is written.
    let keys = system::check(&options.system)?;
    install::check(&install_options(options, options.out))?;

    let mut out = AtomicFile::create(options.out).map_err(|error| ImageError::Io {
        action: "create",
        path: options.out.to_path_buf(),
        cause: error.cause,
    })?;
    base::unpack(options.base, &mut out)?;
    let partial = out.partial_path().to_path_buf();
    let disk = Disk::open(&partial).map_err(|error| match error {
        DiskError::Layout { problem, .. } => ImageError::Base {
            path: options.base.to_path_buf(),
            problem,
        },
        other => other.into(),
    })?;
    check_layout(&disk, options.base)?;
    let stamp = stamp();
    let (boot, root) = (
        disk.partition(1).expect("checked"),
        disk.partition(2).expect("checked"),
    );
    let fat = Fat::open(&disk, boot)?;
    let root_fs = Ext4::open(&disk, &root, stamp)?;
    let stage = stage::extract(&root_fs, &fat, &options.scratch.join("stage"))?;

    let report = install::install(&InstallOptions {
        root: &stage.root,
        boot: Some(&stage.boot),
        ..install_options(options, &partial)
    })?;
    let mut written: Vec<PathBuf> = report
        .files
        .iter()
        .filter(|file| {
            matches!(
                file.change,
                install::Change::Created | install::Change::Updated
            )
        })
        .map(|file| file.path.clone())
        .collect();
    written.extend(system::put(
        &stage,
        &options.system,
        keys.as_deref(),
        options.user,
    )?);
    let home = format!("/home/{}", options.user);
    let passwd = std::fs::read_to_string(stage.here("/etc/passwd")).unwrap_or_default();
    let owner = install::owner_of(&passwd, options.user).unwrap_or(Owner::ROOT);
    drop(disk);
    let disk = Disk::open(&partial)?;
    let fat = Fat::open(&disk, boot)?;
    stage::write_back(
        &root_fs,
        &fat,
        &stage,
        &written,
        (&home, owner),
        options.scratch,
    )?;
    disk.sync()?;
    let bytes = disk.size()?;
    let disk_id = disk.id();
    drop(disk);
    out.commit().map_err(|error| ImageError::Io {
        action: "write",
        path: options.out.to_path_buf(),
        cause: error.cause,
    })?;
    let mut written: Vec<String> = written
        .iter()
        .filter_map(|here| {
            let inside = here.strip_prefix(&stage.root).ok()?;
            Some(format!("/{}", inside.display()))
        })
        .collect();
    written.sort();
    written.dedup();
    Ok(ImageReport {
        out: options.out.to_path_buf(),
        bytes,
        disk_id,
        written,
        install: report,
    })
}

/// The installer's options for the image (on `disk`), before the stage is known.
fn install_options<'a>(options: &ImageOptions<'a>, disk: &'a Path) -> InstallOptions<'a> {
    InstallOptions {
        root: options.scratch,
        boot: None,
        board: options.board,
        binary: options.binary,
        settings: options.settings,
        user: options.user,
        pads: Some(options.pads),
        read_only: Some(ReadOnly {
            disk: Some(disk),
            scratch: Some(options.scratch),
            stamp: stamp(),
        }),
    }
}

/// Refuses a disk that is not laid out as Raspberry Pi OS ships: a FAT boot partition 1, a
/// Linux root partition 2, nothing after, every partition inside the file.
fn check_layout(disk: &Disk, base: &Path) -> Result<(), ImageError> {
    let len = disk.size()?;
    let partitions = disk.partitions();
    let found = partitions
        .iter()
        .map(|p| format!("{} (type {:#04x}, {} MiB)", p.number, p.kind, p.size >> 20))
        .collect::<Vec<_>>()
        .join(", ");
    let problem = match (disk.partition(1), disk.partition(2)) {
        _ if partitions.is_empty() => Some("its partition table is empty".to_owned()),
        (Some(boot), _) if !boot.is_fat() => Some(format!(
            "partition 1 is not a FAT boot partition; found partitions {found}"
        )),
        (None, _) | (_, None) => Some(format!(
            "it needs a boot partition 1 and a root partition 2; found partitions {found}"
        )),
        (Some(_), Some(root)) if root.kind != crate::disk::TYPE_LINUX => Some(format!(
            "partition 2 is not a Linux partition; found partitions {found}"
        )),
        _ if partitions.len() > 2 => Some(format!(
            "it has more partitions than Raspberry Pi OS ships (found {found}); start from the \
             download itself"
        )),
        _ => None,
    };
    if let Some(problem) = problem {
        return Err(ImageError::NotRaspberryPiOs { problem });
    }
    if let Some(cut) = partitions.iter().find(|p| p.end() > len) {
        return Err(ImageError::Base {
            path: base.to_path_buf(),
            problem: format!(
                "partition {} ends at byte {} but the image holds only {len} bytes: the download \
                 was cut short",
                cut.number,
                cut.end()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
