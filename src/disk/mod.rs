//! The card as a disk: an image file or a block device with an MBR partition table, as Raspberry
//! Pi OS ships (a FAT boot partition, an ext4 root) and as the read-only layout extends it (a
//! pads partition and a data partition after the root). `mod.rs` owns the partition table;
//! `window` a partition's bytes as a stream, `fat` the files of the boot partition, `ext4` the
//! ext4 partitions (made with `mke2fs`, edited with `debugfs`, both from e2fsprogs). It never
//! moves or resizes a partition that holds data, and never writes outside the disk it was given.

pub mod ext4;
pub mod fat;
mod window;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use mbrman::{MBRHeader, MBRPartitionEntry, CHS};

pub use window::Window;

/// Bytes per sector of the partition table (every SD card and image uses 512).
pub const SECTOR: u64 = 512;
/// Partitions start on 4 MiB boundaries, as Raspberry Pi OS's do (erase blocks of SD cards).
pub const ALIGN: u64 = 4 << 20;

/// MBR partition types.
pub const TYPE_LINUX: u8 = 0x83;
const FAT_TYPES: [u8; 4] = [0x0b, 0x0c, 0x0e, 0x06];

/// Problems with a disk and its partitions, naming the disk.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{path}: cannot {action}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
    #[error("{path}: {problem}")]
    Layout { path: PathBuf, problem: String },
    #[error("{path}: {program} failed: {cause}")]
    Tool {
        path: PathBuf,
        program: &'static str,
        cause: String,
    },
}

impl DiskError {
    pub fn layout(path: &Path, problem: impl Into<String>) -> DiskError {
        DiskError::Layout {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

pub(crate) fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DiskError {
    let path = path.to_path_buf();
    move |cause| DiskError::Io {
        action,
        path,
        cause,
    }
}

/// One primary partition: its number (1–4), where it lies in bytes and its MBR type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub number: usize,
    pub start: u64,
    pub size: u64,
    pub kind: u8,
}

impl Partition {
    pub fn end(&self) -> u64 {
        self.start + self.size
    }

    pub fn is_fat(&self) -> bool {
        FAT_TYPES.contains(&self.kind)
    }
}

/// A disk open for reading and writing, with its partition table.
pub struct Disk {
    path: PathBuf,
    file: File,
    header: MBRHeader,
}

impl Disk {
    /// Opens the disk at `path` and reads its partition table.
    pub fn open(path: &Path) -> Result<Disk, DiskError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_error("open", path))?;
        let mut sector = [0; SECTOR as usize];
        file.read_exact(&mut sector)
            .map_err(|cause| match cause.kind() {
                io::ErrorKind::UnexpectedEof => {
                    DiskError::layout(path, "it is shorter than one sector")
                }
                _ => io_error("read", path)(cause),
            })?;
        if sector[510..] != [0x55, 0xaa] {
            return Err(DiskError::layout(
                path,
                "it has no MBR partition table (no 55 AA signature at byte 510)",
            ));
        }
        let header = MBRHeader::read_from(&mut io::Cursor::new(&sector[..])).map_err(|cause| {
            DiskError::layout(path, format!("unreadable partition table: {cause}"))
        })?;
        Ok(Disk {
            path: path.to_path_buf(),
            file,
            header,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// The disk's size in bytes (a block device's too).
    pub fn size(&self) -> Result<u64, DiskError> {
        (&self.file)
            .seek(SeekFrom::End(0))
            .map_err(io_error("measure", &self.path))
    }

    /// The PARTUUID prefix of its partitions (`root=PARTUUID=xxxxxxxx-02`): the MBR's disk id.
    pub fn id(&self) -> String {
        format!("{:08x}", u32::from_le_bytes(self.header.disk_signature))
    }

    /// The used primary partitions, in table order.
    pub fn partitions(&self) -> Vec<Partition> {
        (1..=4)
            .filter_map(|number| {
                let entry = self.header.get(number)?;
                entry.is_used().then_some(Partition {
                    number,
                    start: u64::from(entry.starting_lba) * SECTOR,
                    size: u64::from(entry.sectors) * SECTOR,
                    kind: entry.sys,
                })
            })
            .collect()
    }

    pub fn partition(&self, number: usize) -> Option<Partition> {
        self.partitions().into_iter().find(|p| p.number == number)
    }

    /// Sets primary partition `number` to lie at `start` for `size` bytes (both whole sectors)
    /// and writes the table. An image file grows to hold it; a block device must already.
    pub fn set_partition(
        &mut self,
        number: usize,
        start: u64,
        size: u64,
        kind: u8,
    ) -> Result<Partition, DiskError> {
        let sectors = |bytes: u64| {
            u32::try_from(bytes / SECTOR).map_err(|_| {
                DiskError::layout(
                    &self.path,
                    "a partition past 2 TiB does not fit an MBR table",
                )
            })
        };
        let entry = MBRPartitionEntry {
            boot: 0,
            first_chs: CHS::empty(),
            sys: kind,
            last_chs: CHS::empty(),
            starting_lba: sectors(start)?,
            sectors: sectors(size)?,
        };
        self.grow_to(start + size)?;
        self.header[number] = entry;
        let mut sector = [0u8; SECTOR as usize];
        self.header
            .write_into(&mut io::Cursor::new(&mut sector[..]))
            .map_err(|cause| {
                DiskError::layout(&self.path, format!("cannot write the table: {cause}"))
            })?;
        self.write_at(0, &sector)?;
        Ok(Partition {
            number,
            start,
            size,
            kind,
        })
    }

    /// Makes an image file at least `len` bytes long; a block device must be.
    fn grow_to(&mut self, len: u64) -> Result<(), DiskError> {
        let current = self.size()?;
        if current >= len {
            return Ok(());
        }
        let is_file = self
            .file
            .metadata()
            .map_err(io_error("read", &self.path))?
            .is_file();
        if !is_file {
            return Err(DiskError::layout(
                &self.path,
                format!(
                    "the card holds {} MiB, {} MiB short of what is needed",
                    current >> 20,
                    (len - current).div_ceil(1 << 20)
                ),
            ));
        }
        self.file.set_len(len).map_err(io_error("grow", &self.path))
    }

    /// Writes `bytes` at byte `offset` of the disk.
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), DiskError> {
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.write_all(bytes))
            .map_err(io_error("write", &self.path))
    }

    /// Copies the file at `from` into the disk at byte `offset`.
    pub fn copy_in(&mut self, from: &Path, offset: u64) -> Result<(), DiskError> {
        let mut source = File::open(from).map_err(io_error("read", from))?;
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| io::copy(&mut source, &mut self.file))
            .map_err(io_error("write", &self.path))?;
        Ok(())
    }

    /// Flushes everything written to the disk itself.
    pub fn sync(&self) -> Result<(), DiskError> {
        self.file.sync_all().map_err(io_error("sync", &self.path))
    }

    /// A partition's bytes as a stream.
    pub fn window(&self, partition: &Partition) -> Window<'_> {
        Window::new(&self.file, partition.start, partition.size)
    }
}

/// `bytes` rounded up to the partition alignment.
pub fn align_up(bytes: u64) -> u64 {
    bytes.div_ceil(ALIGN) * ALIGN
}
