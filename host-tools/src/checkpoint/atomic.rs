//! Files that appear whole or not at all: bytes go to a temporary file in the target's folder,
//! which is synced and then renamed over the target, and the folder is synced so the rename
//! survives a power cut. A writer dropped before `commit` leaves the old file untouched and
//! removes its temporary file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::CheckpointError;

pub(super) struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    writer: BufWriter<File>,
    written: u64,
    committed: bool,
}

impl AtomicFile {
    pub(super) fn create(path: &Path) -> Result<AtomicFile, CheckpointError> {
        let name = path.file_name().ok_or_else(|| CheckpointError::Io {
            path: path.to_owned(),
            action: "creating the file",
            source: std::io::ErrorKind::InvalidInput.into(),
        })?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.partial", std::process::id()));
        let temp = path.with_file_name(temp_name);
        let file = File::create(&temp).map_err(|source| CheckpointError::Io {
            path: temp.clone(),
            action: "creating the temporary file",
            source,
        })?;
        Ok(AtomicFile {
            path: path.to_owned(),
            temp,
            writer: BufWriter::with_capacity(1 << 20, file),
            written: 0,
            committed: false,
        })
    }

    /// Bytes written so far, i.e. the offset of the next byte.
    pub(super) fn position(&self) -> u64 {
        self.written
    }

    pub(super) fn write(&mut self, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.writer
            .write_all(bytes)
            .map_err(|source| self.failed("writing the temporary file", source))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Puts the finished file in place of the target.
    pub(super) fn commit(mut self) -> Result<(), CheckpointError> {
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_all())
            .map_err(|source| self.failed("writing the temporary file", source))?;
        std::fs::rename(&self.temp, &self.path).map_err(|source| CheckpointError::Io {
            path: self.path.clone(),
            action: "renaming the finished temporary file into place",
            source,
        })?;
        self.committed = true;
        let folder = match self.path.parent() {
            Some(folder) if !folder.as_os_str().is_empty() => folder,
            _ => Path::new("."),
        };
        File::open(folder)
            .and_then(|folder| folder.sync_all())
            .map_err(|source| CheckpointError::Io {
                path: folder.to_owned(),
                action: "syncing the folder",
                source,
            })
    }

    fn failed(&self, action: &'static str, source: std::io::Error) -> CheckpointError {
        CheckpointError::Io {
            path: self.temp.clone(),
            action,
            source,
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the target is untouched either way.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_changes_only_on_commit_and_no_temporary_file_remains() {
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("weights.bin");
        std::fs::write(&target, b"old").unwrap();

        let mut abandoned = AtomicFile::create(&target).unwrap();
        abandoned.write(b"half").unwrap();
        drop(abandoned);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");

        let mut file = AtomicFile::create(&target).unwrap();
        file.write(b"new ").unwrap();
        file.write(b"bytes").unwrap();
        assert_eq!(file.position(), 9);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        file.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new bytes");
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 1);
    }
}
