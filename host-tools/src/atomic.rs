//! Atomic file writes for everything host-tools produces: the bytes go to a `.partial` file next
//! to the target, are flushed and synced, and only then renamed over the target, and the folder is
//! synced so the rename survives a power cut. A file under its final name is therefore always
//! complete; a failed or abandoned write removes its `.partial` file, and a crash leaves at most a
//! `.partial` file, which no step ever mistakes for a finished output. Two styles share one core:
//! the [`AtomicFile`] handle for writers that interleave other work, and [`write_atomically`] for
//! writers that fill the file in one closure. This module never decides what to write.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Suffix of files still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Write buffer of one file: checkpoint data files run to hundreds of megabytes written in many
/// small pieces, and a large buffer keeps that to few system calls.
const BUFFER_BYTES: usize = 1 << 20;

/// Where the bytes of `path` are written before they are complete:
/// `<path>.<writer>.partial`, with a `writer` part unique to this write. Several processes (shards
/// on a cluster sharing a work directory) may write the same file at once; each writes its own
/// partial file and the last rename wins with a complete file.
pub fn partial_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static STARTED: OnceLock<u128> = OnceLock::new();
    // The start time tells apart processes with the same id on different machines.
    let started = STARTED.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_nanos() % 1_000_000_000)
    });
    let write = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(
        ".{}-{started}-{write}{PARTIAL_SUFFIX}",
        std::process::id()
    ));
    PathBuf::from(name)
}

/// A step of an atomic write that failed: the file it concerned (the partial file, the target or
/// its folder) and what was being done to it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {action}: {cause}", path.display())]
pub struct AtomicWriteError {
    pub path: PathBuf,
    pub action: &'static str,
    pub cause: io::Error,
}

/// A file being written under its partial name. It takes the target's name only on
/// [`commit`](AtomicFile::commit); dropped before that, it removes its partial file and leaves
/// the target as it was. It is also an `io::Write + io::Seek` for encoders that want one.
pub struct AtomicFile {
    target: PathBuf,
    partial: PathBuf,
    writer: BufWriter<File>,
    position: u64,
    committed: bool,
}

impl AtomicFile {
    /// Starts a write of `target` (which needs a file name) in a new partial file beside it.
    pub fn create(target: &Path) -> Result<AtomicFile, AtomicWriteError> {
        if target.file_name().is_none() {
            return Err(AtomicWriteError {
                path: target.to_owned(),
                action: "creating the file",
                cause: io::ErrorKind::InvalidInput.into(),
            });
        }
        let partial = partial_path(target);
        let file = File::create(&partial).map_err(|cause| AtomicWriteError {
            path: partial.clone(),
            action: "creating the partial file",
            cause,
        })?;
        Ok(AtomicFile {
            target: target.to_owned(),
            partial,
            writer: BufWriter::with_capacity(BUFFER_BYTES, file),
            position: 0,
            committed: false,
        })
    }

    /// Offset in the file of the next byte written.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Writes all of `bytes` at the current position.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), AtomicWriteError> {
        self.write_all(bytes)
            .map_err(|cause| self.partial_failed(cause))
    }

    /// Syncs the finished file and puts it in place of the target.
    pub fn commit(mut self) -> Result<(), AtomicWriteError> {
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_all())
            .map_err(|cause| self.partial_failed(cause))?;
        std::fs::rename(&self.partial, &self.target).map_err(|cause| AtomicWriteError {
            path: self.target.clone(),
            action: "renaming the finished partial file into place",
            cause,
        })?;
        self.committed = true;
        sync_folder_of(&self.target)
    }

    fn partial_failed(&self, cause: io::Error) -> AtomicWriteError {
        AtomicWriteError {
            path: self.partial.clone(),
            action: "writing the partial file",
            cause,
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.writer.write(bytes)?;
        self.position += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.position = self.writer.seek(to)?;
        Ok(self.position)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the target is untouched either way, and the error that matters is
            // the one that made the writer give up.
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// Makes the rename itself durable, so that after a power cut the file is there under its name.
#[cfg(unix)]
fn sync_folder_of(path: &Path) -> Result<(), AtomicWriteError> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    File::open(folder)
        .and_then(|folder| folder.sync_all())
        .map_err(|cause| AtomicWriteError {
            path: folder.to_owned(),
            action: "syncing the folder",
            cause,
        })
}

/// Folders cannot be opened for syncing on every platform; the rename is still atomic.
#[cfg(not(unix))]
fn sync_folder_of(_path: &Path) -> Result<(), AtomicWriteError> {
    Ok(())
}

/// Writes `path` atomically: `write` fills an [`AtomicFile`], which is then committed. On any
/// error (the writer's own, or an I/O error) the partial file is removed and `path` is left as it
/// was. The callers' errors name the target, so a failure of the file itself reaches them as the
/// bare `io::Error`.
pub fn write_atomically<E, F>(path: &Path, write: F) -> Result<(), E>
where
    E: From<io::Error>,
    F: FnOnce(&mut AtomicFile) -> Result<(), E>,
{
    let mut file = AtomicFile::create(path).map_err(|error| E::from(error.cause))?;
    write(&mut file)?;
    file.commit().map_err(|error| E::from(error.cause))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_finished_write_leaves_only_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomically::<io::Error, _>(&path, |w| w.write_all(b"abc")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert_eq!(names_in(dir.path()), ["out.bin"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        std::fs::write(&path, b"old").unwrap();
        let error = write_atomically::<io::Error, _>(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names_in(dir.path()), ["out.bin"]);
    }

    #[test]
    fn the_target_changes_only_on_commit_and_an_abandoned_write_leaves_nothing() {
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("weights.bin");
        std::fs::write(&target, b"old").unwrap();

        let mut abandoned = AtomicFile::create(&target).unwrap();
        abandoned.append(b"half").unwrap();
        drop(abandoned);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(names_in(folder.path()), ["weights.bin"]);

        let mut file = AtomicFile::create(&target).unwrap();
        file.append(b"new ").unwrap();
        file.append(b"bytes").unwrap();
        assert_eq!(file.position(), 9);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        file.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new bytes");
        assert_eq!(names_in(folder.path()), ["weights.bin"]);
    }

    #[test]
    fn the_position_follows_seeks_as_encoders_patch_their_headers() {
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("out.bin");
        write_atomically::<io::Error, _>(&target, |file| {
            file.write_all(b"size????data")?;
            assert_eq!(file.position(), 12);
            file.seek(SeekFrom::Start(4))?;
            assert_eq!(file.position(), 4);
            file.write_all(b"0004")?;
            assert_eq!(file.position(), 8);
            file.seek(SeekFrom::End(0))?;
            assert_eq!(file.position(), 12);
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"size0004data");
    }

    #[test]
    fn a_failure_names_the_file_and_the_step() {
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("no such folder").join("out.bin");
        let error = AtomicFile::create(&target).err().unwrap();
        assert_eq!(error.action, "creating the partial file");
        assert!(error.path.starts_with(folder.path().join("no such folder")));
        let message = error.to_string();
        assert!(
            message.contains("out.bin.") && message.contains("creating the partial file"),
            "{message}"
        );
        let error = AtomicFile::create(Path::new("/")).err().unwrap();
        assert_eq!(error.action, "creating the file");
        assert_eq!(error.cause.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn concurrent_writes_of_one_file_never_share_a_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gen_x.wav");
        let (first, second) = (partial_path(&path), partial_path(&path));
        assert_ne!(first, second);
        for partial in [first, second] {
            let name = partial.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with("gen_x.wav.") && name.ends_with(PARTIAL_SUFFIX),
                "{name}"
            );
        }
        std::thread::scope(|scope| {
            for byte in [b'a', b'b'] {
                let path = &path;
                scope.spawn(move || {
                    write_atomically::<io::Error, _>(path, |w| w.write_all(&[byte; 100_000]))
                        .unwrap()
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert!(bytes.iter().all(|&b| b == bytes[0]));
    }
}
