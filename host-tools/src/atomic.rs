//! Atomic file writes for everything host-tools produces: the bytes go to a `.partial` file next
//! to the target, are flushed and synced, and only then renamed over the target. A file under its
//! final name is therefore always complete; a crash leaves at most a `.partial` file, which no
//! step ever mistakes for a finished output. This module never decides what to write.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Suffix of files still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

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
