//! Atomic file writes for everything the workspace produces (patches, the installer's files,
//! renders, recordings, the demo, learned maps, every host-tools output): the bytes go to a
//! partial file beside the target, are flushed and synced, and only then renamed over the target,
//! and the folder is synced so the rename survives a power cut. A file under its final name is
//! therefore always complete; a failed or abandoned write removes its partial file, and a crash
//! leaves at most a partial file, which nothing ever mistakes for a finished output. Outputs that
//! name a folder or one of the command's inputs are refused before anything is written
//! ([`check_output`]). A process ending on a signal without returning to its writers removes
//! every partial file it is writing with [`remove_unfinished`]; partial files left by a process
//! that was killed outright are found by their age ([`remove_abandoned`]). This module never
//! decides what to write.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Suffix of files still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Write buffer of one file: checkpoint data files run to hundreds of megabytes written in many
/// small pieces, and a large buffer keeps that to few system calls.
const BUFFER_BYTES: usize = 1 << 20;

/// How long a partial file goes unmodified before [`remove_abandoned`] takes its writer for
/// gone. A writer touches its file every time its buffer fills, and the workspace's writers
/// fill it within seconds; an hour leaves room for slow network file systems and clocks that
/// disagree between machines sharing a folder.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

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

/// The partial files this process is writing, and whether it is stopping (then no new one is
/// created).
struct Unfinished {
    paths: BTreeSet<PathBuf>,
    stopping: bool,
}

fn unfinished() -> MutexGuard<'static, Unfinished> {
    static UNFINISHED: Mutex<Unfinished> = Mutex::new(Unfinished {
        paths: BTreeSet::new(),
        stopping: false,
    });
    UNFINISHED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes the partial file of every write this process has under way, and makes every later
/// write fail at its start: for a process that is about to end without returning to its
/// writers (a signal's handler), so it leaves nothing half-written behind. Returns the files
/// removed. A write that finishes meanwhile is either in place complete or removed.
pub fn remove_unfinished() -> Vec<PathBuf> {
    let mut unfinished = unfinished();
    unfinished.stopping = true;
    std::mem::take(&mut unfinished.paths)
        .into_iter()
        .filter(|path| std::fs::remove_file(path).is_ok())
        .collect()
}

/// Removes the partial files directly in `folder` that have gone unmodified for
/// [`ABANDONED_AFTER`]: left by a process that was killed outright. Partial files of writes
/// still under way, here or in other processes sharing the folder, are younger and are kept.
/// Returns the files removed.
pub fn remove_abandoned(folder: &Path) -> io::Result<Vec<PathBuf>> {
    // Another process may rename or remove a partial file at any moment: one gone is skipped.
    let skip_gone = |result: io::Result<()>| match result {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        other => other.map(|()| true),
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        if !entry
            .file_name()
            .to_string_lossy()
            .ends_with(PARTIAL_SUFFIX)
        {
            continue;
        }
        let mut abandoned = false;
        let looked = entry.metadata().and_then(|metadata| {
            let age = now.duration_since(metadata.modified()?).unwrap_or_default();
            abandoned = metadata.is_file() && age >= ABANDONED_AFTER;
            Ok(())
        });
        if skip_gone(looked)? && abandoned && skip_gone(std::fs::remove_file(entry.path()))? {
            removed.push(entry.path());
        }
    }
    removed.sort();
    Ok(removed)
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

/// The permission bits a written file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Those of the file it replaces; a new file gets the usual ones (0o666 less the umask).
    #[default]
    Keep,
    /// Exactly these bits, whatever the umask (the installer's service files and programs).
    Exact(u32),
}

/// An output path that must not be written: checked before any work starts.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{} is a folder; name a file to write", .0.display())]
    Folder(PathBuf),
    #[error("{} is also an input of this command; name another file to write", .0.display())]
    IsInput(PathBuf),
    #[error("{} names no file", .0.display())]
    NoName(PathBuf),
}

/// Refuses an output that names a folder, names no file, or is (under any name, through links)
/// one of `inputs`, so a typo never overwrites what the command reads.
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<(), OutputError> {
    if output.is_dir() {
        return Err(OutputError::Folder(output.to_owned()));
    }
    if output.file_name().is_none() {
        return Err(OutputError::NoName(output.to_owned()));
    }
    match inputs.iter().find(|input| same_file(output, input)) {
        Some(_) => Err(OutputError::IsInput(output.to_owned())),
        None => Ok(()),
    }
}

/// Whether two paths name one existing file (hard links and symbolic links included).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => file_identity(&a) == file_identity(&b),
        _ => false,
    }
}

#[cfg(unix)]
fn file_identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    (metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
fn file_identity(metadata: &std::fs::Metadata) -> (u64, Option<SystemTime>) {
    (metadata.len(), metadata.modified().ok())
}

/// The partial file of a write, by name: removed when dropped unless renamed into place.
struct Partial {
    target: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl Partial {
    fn new(target: &Path) -> Result<Partial, AtomicWriteError> {
        let refused = if target.file_name().is_none() {
            Some(io::ErrorKind::InvalidInput)
        } else if target.is_dir() {
            Some(io::ErrorKind::IsADirectory)
        } else {
            None
        };
        if let Some(kind) = refused {
            return Err(AtomicWriteError {
                path: target.to_owned(),
                action: "creating the file",
                cause: kind.into(),
            });
        }
        Ok(Partial {
            target: target.to_owned(),
            path: partial_path(target),
            committed: false,
        })
    }

    /// The error of `action` on the partial file.
    fn failed(&self, action: &'static str) -> impl Fn(io::Error) -> AtomicWriteError + Copy + '_ {
        move |cause| AtomicWriteError {
            path: self.path.clone(),
            action,
            cause,
        }
    }

    /// Creates the partial file with the permission bits `mode` asks for.
    fn create(&self, mode: Mode) -> Result<File, AtomicWriteError> {
        let failed = self.failed("creating the partial file");
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let bits = match mode {
            Mode::Exact(bits) => Some(bits),
            Mode::Keep => existing_mode(&self.target),
        };
        #[cfg(unix)]
        if let Some(bits) = bits {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(bits);
        }
        let file = {
            // Created and recorded under the lock, so `remove_unfinished` misses none.
            let mut unfinished = unfinished();
            if unfinished.stopping {
                return Err(failed(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "the program is stopping",
                )));
            }
            let file = options.open(&self.path).map_err(failed)?;
            unfinished.paths.insert(self.path.clone());
            file
        };
        #[cfg(unix)]
        if let Mode::Exact(bits) = mode {
            // The creation mode is filtered by the umask; these bits are wanted exactly. (Only
            // here: file systems without permissions, like a FAT boot partition, refuse it.)
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(bits))
                .map_err(failed)?;
        }
        Ok(file)
    }

    /// Puts the (synced) partial file in place of the target and makes the rename durable.
    fn commit(mut self) -> Result<(), AtomicWriteError> {
        std::fs::rename(&self.path, &self.target).map_err(|cause| AtomicWriteError {
            path: self.target.clone(),
            action: "renaming the finished partial file into place",
            cause,
        })?;
        self.committed = true;
        sync_folder_of(&self.target)
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the target is untouched either way, and the error that matters is
            // the one that made the writer give up.
            let _ = std::fs::remove_file(&self.path);
        }
        unfinished().paths.remove(&self.path);
    }
}

#[cfg(unix)]
fn existing_mode(target: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(target)
        .ok()
        .map(|metadata| metadata.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn existing_mode(_target: &Path) -> Option<u32> {
    None
}

/// A file being written under its partial name. It takes the target's name only on
/// [`commit`](AtomicFile::commit); dropped before that, it removes its partial file and leaves
/// the target as it was. It is also an `io::Write + io::Seek` for encoders that want one.
pub struct AtomicFile {
    partial: Partial,
    writer: BufWriter<File>,
    position: u64,
}

impl AtomicFile {
    /// Starts a write of `target` (which needs a file name) in a new partial file beside it.
    pub fn create(target: &Path) -> Result<AtomicFile, AtomicWriteError> {
        AtomicFile::with_mode(target, Mode::Keep)
    }

    /// Starts a write of `target` whose file gets the permission bits `mode` asks for.
    pub fn with_mode(target: &Path, mode: Mode) -> Result<AtomicFile, AtomicWriteError> {
        let partial = Partial::new(target)?;
        let file = partial.create(mode)?;
        Ok(AtomicFile {
            partial,
            writer: BufWriter::with_capacity(BUFFER_BYTES, file),
            position: 0,
        })
    }

    /// The partial file being written, for writers that also edit it in place by name (a disk
    /// image).
    pub fn partial_path(&self) -> &Path {
        &self.partial.path
    }

    /// Offset in the file of the next byte written.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Writes all of `bytes` at the current position.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), AtomicWriteError> {
        let written = self.write_all(bytes);
        written.map_err(self.partial.failed(WRITING))
    }

    /// Syncs the finished file and puts it in place of the target.
    pub fn commit(mut self) -> Result<(), AtomicWriteError> {
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_all())
            .map_err(self.partial.failed(WRITING))?;
        self.partial.commit()
    }
}

/// What a write of a partial file was doing when it failed.
const WRITING: &str = "writing the partial file";

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

/// A WAV file written atomically: a `hound` writer on the partial file, which takes the target's
/// name on [`commit`](AtomicWav::commit) with its header complete, and is removed if dropped.
pub struct AtomicWav {
    wav: hound::WavWriter<BufWriter<File>>,
    /// The partial file's handle, for the sync after hound has finished with it.
    file: File,
    partial: Partial,
}

impl AtomicWav {
    pub fn create(target: &Path, spec: hound::WavSpec) -> Result<AtomicWav, AtomicWriteError> {
        let partial = Partial::new(target)?;
        let file = partial.create(Mode::Keep)?;
        let failed = partial.failed(WRITING);
        let handle = file.try_clone().map_err(failed)?;
        let wav = hound::WavWriter::new(BufWriter::with_capacity(BUFFER_BYTES, file), spec)
            .map_err(|error| failed(hound_to_io(error)))?;
        Ok(AtomicWav {
            wav,
            file: handle,
            partial,
        })
    }

    /// The writer of samples.
    pub fn samples(&mut self) -> &mut hound::WavWriter<BufWriter<File>> {
        &mut self.wav
    }

    /// The partial file, for error messages about writing samples.
    pub fn partial_path(&self) -> &Path {
        &self.partial.path
    }

    /// Completes the header, syncs the file and puts it in place of the target.
    pub fn commit(self) -> Result<(), AtomicWriteError> {
        let failed = self.partial.failed("finishing the partial file");
        self.wav
            .finalize()
            .map_err(|error| failed(hound_to_io(error)))?;
        self.file.sync_all().map_err(failed)?;
        self.partial.commit()
    }
}

/// hound reports I/O failures inside its own error type; anything else it reports while writing
/// (a sample format the spec does not allow) is a bug of the caller, kept as its message.
fn hound_to_io(error: hound::Error) -> io::Error {
    match error {
        hound::Error::IoError(error) => error,
        other => io::Error::other(other.to_string()),
    }
}

/// Makes the rename itself durable, so that after a power cut the file is there under its name.
/// Some file systems (FAT boot partitions, some network file systems) refuse to sync a folder;
/// the rename is then as durable as they allow.
pub fn sync_folder_of(path: &Path) -> Result<(), AtomicWriteError> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    match File::open(folder).and_then(|folder| folder.sync_all()) {
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::InvalidInput
                    | io::ErrorKind::Unsupported
                    | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(())
        }
        other => other.map_err(|cause| AtomicWriteError {
            path: folder.to_owned(),
            action: "syncing the folder",
            cause,
        }),
    }
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

/// Replaces `path` with `bytes` atomically, its permission bits as `mode` asks.
pub fn write_bytes(path: &Path, bytes: &[u8], mode: Mode) -> Result<(), AtomicWriteError> {
    let mut file = AtomicFile::with_mode(path, mode)?;
    file.append(bytes)?;
    file.commit()
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

    #[cfg(unix)]
    #[test]
    fn modes_are_kept_from_the_replaced_file_or_set_exactly() {
        use std::os::unix::fs::PermissionsExt as _;
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("service");
        let bits = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        write_bytes(&target, b"one", Mode::Exact(0o750)).unwrap();
        assert_eq!(bits(&target), 0o750);
        write_bytes(&target, b"two", Mode::Keep).unwrap();
        assert_eq!(bits(&target), 0o750);
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        write_bytes(&target, b"three", Mode::Exact(0o644)).unwrap();
        assert_eq!(bits(&target), 0o644);
    }

    #[test]
    fn a_folder_is_never_replaced_by_a_file() {
        let folder = tempfile::tempdir().unwrap();
        let error = AtomicFile::create(folder.path()).err().unwrap();
        assert_eq!(error.cause.kind(), io::ErrorKind::IsADirectory);
        assert!(folder.path().is_dir());
        assert_eq!(names_in(folder.path()), Vec::<String>::new());
    }

    #[test]
    fn outputs_naming_a_folder_or_an_input_are_refused() {
        let folder = tempfile::tempdir().unwrap();
        let song = folder.path().join("song.mid");
        std::fs::write(&song, b"MThd").unwrap();
        let out = folder.path().join("song.wav");
        assert!(check_output(&out, &[&song]).is_ok());
        let error = check_output(&song, &[&song]).unwrap_err();
        assert!(matches!(error, OutputError::IsInput(_)), "{error}");
        // The same file under another spelling of its path.
        let other = folder.path().join(".").join("song.mid");
        assert!(matches!(
            check_output(&other, &[&song]),
            Err(OutputError::IsInput(_))
        ));
        #[cfg(unix)]
        {
            let link = folder.path().join("link.mid");
            std::os::unix::fs::symlink(&song, &link).unwrap();
            assert!(matches!(
                check_output(&link, &[&song]),
                Err(OutputError::IsInput(_))
            ));
        }
        let error = check_output(folder.path(), &[&song]).unwrap_err();
        assert!(error.to_string().contains("is a folder"), "{error}");
    }

    #[test]
    fn only_partial_files_untouched_for_long_are_taken_for_abandoned() {
        let folder = tempfile::tempdir().unwrap();
        let long_ago = SystemTime::now() - ABANDONED_AFTER - Duration::from_secs(1);
        let file = |name: &str, modified: SystemTime| {
            let file = File::create(folder.path().join(name)).unwrap();
            file.set_modified(modified).unwrap();
        };
        let killed = partial_path(&folder.path().join("a.bin"));
        file(killed.file_name().unwrap().to_str().unwrap(), long_ago);
        // A write still under way, in this process or another.
        let writing = partial_path(&folder.path().join("b.bin"));
        file(
            writing.file_name().unwrap().to_str().unwrap(),
            SystemTime::now(),
        );
        file("old.bin", long_ago);
        std::fs::create_dir(folder.path().join("folder.partial")).unwrap();

        assert_eq!(remove_abandoned(folder.path()).unwrap(), [killed]);
        let writing = writing.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            names_in(folder.path()),
            [writing.as_str(), "folder.partial", "old.bin"]
        );
    }

    #[test]
    fn a_wav_takes_its_name_complete_or_not_at_all() {
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("take.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut abandoned = AtomicWav::create(&target, spec).unwrap();
        abandoned.samples().write_sample(1i16).unwrap();
        drop(abandoned);
        assert_eq!(names_in(folder.path()), Vec::<String>::new());

        let mut wav = AtomicWav::create(&target, spec).unwrap();
        for sample in 0..1000i16 {
            wav.samples().write_sample(sample).unwrap();
        }
        assert!(!target.exists());
        wav.commit().unwrap();
        let reader = hound::WavReader::open(&target).unwrap();
        assert_eq!(reader.len(), 1000);
        assert_eq!(names_in(folder.path()), ["take.wav"]);
    }
}
