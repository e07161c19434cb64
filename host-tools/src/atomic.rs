//! Atomic file writes for everything host-tools produces: the bytes go to `<name>.partial` next to
//! the target, are flushed and synced, and only then renamed over the target. A file under its
//! final name is therefore always complete; a crash leaves at most a `.partial` file, which no
//! step ever mistakes for a finished output. This module never decides what to write.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Suffix of files still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Where the bytes of `path` are written before they are complete: `<path>.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// Writes `path` atomically: `write` fills a buffered writer on the partial file, which is then
/// synced and renamed to `path`. On any error (the writer's own, or an I/O error) the partial
/// file is removed and `path` is left as it was.
pub fn write_atomically<E, F>(path: &Path, write: F) -> Result<(), E>
where
    E: From<io::Error>,
    F: FnOnce(&mut BufWriter<File>) -> Result<(), E>,
{
    let partial = partial_path(path);
    let result = write_then_rename(&partial, path, write);
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_then_rename<E, F>(partial: &Path, path: &Path, write: F) -> Result<(), E>
where
    E: From<io::Error>,
    F: FnOnce(&mut BufWriter<File>) -> Result<(), E>,
{
    let mut writer = BufWriter::new(File::create(partial)?);
    write(&mut writer)?;
    writer.flush()?;
    let file = writer
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(partial, path)?;
    Ok(sync_parent(path)?)
}

/// Makes the rename itself durable, so that after a power cut the file is there under its name.
#[cfg(unix)]
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// Directories cannot be opened for syncing on every platform; the rename is still atomic.
#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_write_leaves_only_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomically::<io::Error, _>(&path, |w| w.write_all(b"abc")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert!(!partial_path(&path).exists());
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
        assert!(!partial_path(&path).exists());
    }

    #[test]
    fn the_partial_name_appends_a_suffix() {
        assert_eq!(
            partial_path(Path::new("a/gen_x.wav")),
            PathBuf::from("a/gen_x.wav.partial")
        );
    }
}
