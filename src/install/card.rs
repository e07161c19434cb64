//! `Card`: the card being installed on and the report of what has been done to it. Every write
//! goes through here: atomic, skipped when the file already holds the bytes, recorded in the
//! report. It never writes outside the card's root and boot folders, never replaces the user's
//! own settings or patches, and never decides what a file should hold.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Seek};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::error::{io_error, InstallError};
use super::report::{Change, FileChange, InstallReport, PadsLine};
use crate::atomic::{self, Mode};
use crate::settings::Settings;

/// The card being installed on, and what has been done to it so far.
pub(super) struct Card<'a> {
    root: &'a Path,
    /// Folders of the Pi that are other file systems, each with the folder standing in for it
    /// here (the pads partition of the read-only layout, gathered before it is made).
    mounts: Vec<(PathBuf, PathBuf)>,
    report: InstallReport,
}

impl<'a> Card<'a> {
    /// The card mounted at `root`, with its boot partition at `boot_dir`; nothing done yet.
    pub(super) fn new(root: &'a Path, boot_dir: &Path) -> Self {
        Card {
            root,
            mounts: Vec::new(),
            report: InstallReport {
                boot_dir: boot_dir.to_path_buf(),
                files: Vec::new(),
                notes: Vec::new(),
                pads: None,
            },
        }
    }

    pub(super) fn into_report(self) -> InstallReport {
        self.report
    }

    /// Has the Pi's folder `on_pi` stand for the folder `here` from now on.
    pub(super) fn mount(&mut self, on_pi: &str, here: &Path) {
        self.mounts.push((PathBuf::from(on_pi), here.to_path_buf()));
    }

    /// A path in the card's root file system itself, under any other file system mounted there
    /// (a mount point).
    pub(super) fn on_root(&self, on_pi: &str) -> PathBuf {
        self.root.join(on_pi.trim_start_matches('/'))
    }

    /// A path on the Pi, as seen from here.
    pub(super) fn path(&self, on_pi: &str) -> PathBuf {
        for (folder, here) in &self.mounts {
            if let Ok(inside) = Path::new(on_pi).strip_prefix(folder) {
                return here.join(inside);
            }
        }
        self.root.join(on_pi.trim_start_matches('/'))
    }

    /// A path the settings resolved on the card (absolute ones name a place on the Pi), as seen
    /// from here.
    pub(super) fn on_card(&self, resolved: &Path) -> PathBuf {
        if resolved.starts_with(self.root) {
            self.path(&self.on_pi(resolved).to_string_lossy())
        } else {
            self.path(&resolved.to_string_lossy())
        }
    }

    /// A path the settings resolved on the card, as the Pi sees it.
    pub(super) fn on_pi(&self, resolved: &Path) -> PathBuf {
        for (folder, here) in &self.mounts {
            if let Ok(inside) = resolved.strip_prefix(here) {
                return folder.join(inside);
            }
        }
        match resolved.strip_prefix(self.root) {
            Ok(inside) => Path::new("/").join(inside),
            Err(_) => resolved.to_path_buf(),
        }
    }

    /// Makes the folder `path` (and those above it) unless it exists.
    pub(super) fn folder(&mut self, path: &Path) -> Result<(), InstallError> {
        let change = if path.is_dir() {
            Change::Unchanged
        } else {
            fs::create_dir_all(path).map_err(io_error("create folder", path))?;
            Change::Created
        };
        self.record(path, change);
        Ok(())
    }

    /// Where the pads are, for the report.
    pub(super) fn pads(&mut self, line: PadsLine) {
        self.report.pads = Some(line);
    }

    /// Something that will matter when the Pi boots.
    pub(super) fn note(&mut self, note: String) {
        self.report.notes.push(note);
    }

    /// Records what happened to `path`; a file on another file system standing in for one of the
    /// Pi's (the gathered pads) is named as the Pi will see it.
    fn record(&mut self, path: &Path, change: Change) {
        let mounted = self
            .mounts
            .iter()
            .find_map(|(folder, here)| Some(folder.join(path.strip_prefix(here).ok()?)));
        self.report.files.push(FileChange {
            path: mounted.unwrap_or_else(|| path.to_path_buf()),
            change,
        });
    }

    /// Writes `bytes` to `path` unless it already holds them.
    pub(super) fn put(
        &mut self,
        path: &Path,
        bytes: &[u8],
        mode: Mode,
    ) -> Result<(), InstallError> {
        self.put_from(path, &mut io::Cursor::new(bytes), mode)
            .map(drop)
    }

    /// Copies the file `from` to `path` unless it already holds the same bytes, streaming it
    /// rather than holding it in memory. Returns whether it was written.
    pub(super) fn copy(
        &mut self,
        from: &Path,
        path: &Path,
        mode: Mode,
    ) -> Result<bool, InstallError> {
        let mut source = File::open(from).map_err(io_error("read", from))?;
        self.put_from(path, &mut source, mode)
    }

    /// Writes what `source` holds to `path` unless it already holds it. Returns whether it was
    /// written.
    fn put_from(
        &mut self,
        path: &Path,
        source: &mut (impl Read + Seek),
        mode: Mode,
    ) -> Result<bool, InstallError> {
        let change = match File::open(path) {
            Err(error) if error.kind() == ErrorKind::NotFound => Change::Created,
            Err(error) => return Err(io_error("read", path)(error)),
            Ok(old) => {
                let same = same_bytes(old, &mut *source).map_err(io_error("compare", path))?;
                if same && permissions_match(path, mode) {
                    Change::Unchanged
                } else {
                    Change::Updated
                }
            }
        };
        let written = change != Change::Unchanged;
        if written {
            let mut file = atomic::AtomicFile::with_mode(path, mode).map_err(write_error(path))?;
            source
                .rewind()
                .and_then(|()| io::copy(source, &mut file))
                .map_err(io_error("write", path))?;
            file.commit().map_err(write_error(path))?;
        }
        self.record(path, change);
        Ok(written)
    }

    /// Installs the settings unless the card has its own, and reports the user's patches.
    /// Returns the settings the service will read, when they are valid.
    pub(super) fn put_settings(
        &mut self,
        path: &Path,
        text: &str,
    ) -> Result<Option<Settings>, InstallError> {
        match fs::read(path) {
            Ok(old) if old != text.as_bytes() => {
                self.record(path, Change::Kept);
                self.note(format!(
                    "kept the card's own {}; the settings given were not installed",
                    path.display()
                ));
            }
            _ => self.put(path, text.as_bytes(), Mode::Exact(0o644))?,
        }
        let settings = match Settings::from_file(path) {
            Ok(settings) => settings,
            Err(error) => {
                self.note(format!(
                    "the card's settings have a problem the program will stop at: {error}"
                ));
                return Ok(None);
            }
        };
        self.report.notes.extend(settings.warnings.iter().cloned());
        let patches = self.on_card(&settings.patch_file);
        if patches.is_file() {
            self.record(&patches, Change::Kept);
        }
        Ok(Some(settings))
    }

    /// Rewrites an existing (or absent, hence empty) text file with `change`, which returns
    /// `None` when the text is already right.
    pub(super) fn edit(
        &mut self,
        path: &Path,
        change: impl FnOnce(&str) -> Result<Option<String>, InstallError>,
    ) -> Result<(), InstallError> {
        let text = match fs::read_to_string(path) {
            Err(error) if error.kind() == ErrorKind::NotFound => String::new(),
            other => other.map_err(io_error("read", path))?,
        };
        match change(&text)? {
            Some(new) => self.put(path, new.as_bytes(), Mode::Keep),
            None => {
                self.record(path, Change::Unchanged);
                Ok(())
            }
        }
    }

    /// Points the symbolic link `path` at `target` (a path on the Pi), replacing it atomically.
    pub(super) fn link(&mut self, path: &Path, target: &Path) -> Result<(), InstallError> {
        let change = match fs::read_link(path) {
            Ok(current) if current == target => Change::Unchanged,
            Ok(_) => Change::Updated,
            Err(error) if error.kind() == ErrorKind::NotFound => Change::Created,
            // Something that is not a link sits there.
            Err(error) if error.kind() == ErrorKind::InvalidInput => Change::Updated,
            Err(error) => return Err(io_error("read", path)(error)),
        };
        if change != Change::Unchanged {
            let dir = parent(path);
            fs::create_dir_all(dir).map_err(io_error("create folder", dir))?;
            let temp = atomic::partial_path(path);
            let result = std::os::unix::fs::symlink(target, &temp)
                .and_then(|()| fs::rename(&temp, path))
                .and_then(|()| atomic::sync_folder_of(path).map_err(|error| error.cause));
            if result.is_err() {
                let _ = fs::remove_file(&temp);
            }
            result.map_err(io_error("link", path))?;
        }
        self.record(path, change);
        Ok(())
    }
}

fn write_error(path: &Path) -> impl FnOnce(atomic::AtomicWriteError) -> InstallError + '_ {
    move |error| InstallError::Io {
        action: "write",
        path: path.to_owned(),
        cause: error.cause,
    }
}

/// Whether `old` and `new` hold the same bytes, read a block at a time.
fn same_bytes(old: impl Read, new: impl Read) -> io::Result<bool> {
    const BLOCK: u64 = 1 << 16;
    let (mut old, mut new) = (old.take(u64::MAX), new.take(u64::MAX));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    loop {
        a.clear();
        b.clear();
        old.set_limit(BLOCK);
        new.set_limit(BLOCK);
        let read = old.read_to_end(&mut a)?;
        new.read_to_end(&mut b)?;
        if a != b {
            return Ok(false);
        }
        if read == 0 {
            return Ok(true);
        }
    }
}

fn permissions_match(path: &Path, mode: Mode) -> bool {
    match mode {
        Mode::Keep => true,
        Mode::Exact(bits) => {
            fs::metadata(path).is_ok_and(|metadata| metadata.permissions().mode() & 0o7777 == bits)
        }
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
