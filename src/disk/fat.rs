//! The FAT boot partition's files (`config.txt`, `cmdline.txt`), read and written in place in the
//! disk through the fatfs library, with every time stamp left at the FAT epoch so that the same
//! edits give the same bytes. It only touches files in the partition's top folder.

use std::io::{Read, Write};

use super::{Disk, DiskError, Partition};

/// The FAT file system of `partition` on `disk`.
pub struct Fat<'a> {
    disk: &'a Disk,
    partition: Partition,
}

impl<'a> Fat<'a> {
    /// The FAT file system in `partition`, refused when there is none.
    pub fn open(disk: &'a Disk, partition: Partition) -> Result<Self, DiskError> {
        let fat = Fat { disk, partition };
        fat.file_system()?;
        Ok(fat)
    }

    fn file_system(&self) -> Result<fatfs::FileSystem<super::Window<'a>>, DiskError> {
        fatfs::FileSystem::new(self.disk.window(&self.partition), fatfs::FsOptions::new()).map_err(
            |cause| {
                DiskError::layout(
                    self.disk.path(),
                    format!(
                        "partition {} holds no FAT file system ({cause})",
                        self.partition.number
                    ),
                )
            },
        )
    }

    fn failed(&self, action: &str, name: &str, cause: std::io::Error) -> DiskError {
        DiskError::layout(
            self.disk.path(),
            format!(
                "cannot {action} {name} in partition {}: {cause}",
                self.partition.number
            ),
        )
    }

    /// The file `name` of the top folder, or `None` when there is none.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, DiskError> {
        let fs = self.file_system()?;
        let mut file = match fs.root_dir().open_file(name) {
            Ok(file) => file,
            Err(cause) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => return Err(self.failed("open", name, cause)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|cause| self.failed("read", name, cause))?;
        Ok(Some(bytes))
    }

    /// Replaces (or creates) the file `name` of the top folder with `bytes`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), DiskError> {
        let fs = self.file_system()?;
        let mut file = fs
            .root_dir()
            .create_file(name)
            .map_err(|cause| self.failed("create", name, cause))?;
        file.truncate()
            .and_then(|()| file.write_all(bytes))
            .and_then(|()| file.flush())
            .map_err(|cause| self.failed("write", name, cause))?;
        drop(file);
        fs.unmount()
            .map_err(|cause| self.failed("write", name, cause))
    }
}
