//! `Card`: the card being installed on and the report of what has been done to it. Every write
//! goes through here: atomic, skipped when the file already holds the bytes, recorded in the
//! report. It never writes outside the card's root and boot folders, never replaces the user's
//! own settings or patches, and never decides what a file should hold.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::error::{io_error, InstallError};
use super::report::{Change, FileChange, InstallReport};
use crate::atomic::{self, Mode};
use crate::settings::Settings;

/// The card being installed on, and what has been done to it so far.
pub(super) struct Card<'a> {
    root: &'a Path,
    report: InstallReport,
}

impl<'a> Card<'a> {
    /// The card mounted at `root`, with its boot partition at `boot_dir`; nothing done yet.
    pub(super) fn new(root: &'a Path, boot_dir: &Path) -> Self {
        Card {
            root,
            report: InstallReport {
                boot_dir: boot_dir.to_path_buf(),
                files: Vec::new(),
                notes: Vec::new(),
            },
        }
    }

    pub(super) fn into_report(self) -> InstallReport {
        self.report
    }

    /// A path on the Pi, as seen from here.
    pub(super) fn path(&self, on_pi: &str) -> PathBuf {
        self.root.join(on_pi.trim_start_matches('/'))
    }

    /// Something that will matter when the Pi boots.
    pub(super) fn note(&mut self, note: String) {
        self.report.notes.push(note);
    }

    fn record(&mut self, path: &Path, change: Change) {
        self.report.files.push(FileChange {
            path: path.to_path_buf(),
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
        let change = match fs::read(path) {
            Err(error) if error.kind() == ErrorKind::NotFound => Change::Created,
            Err(error) => return Err(io_error("read", path)(error)),
            Ok(old) if old == bytes && permissions_match(path, mode) => Change::Unchanged,
            Ok(_) => Change::Updated,
        };
        if change != Change::Unchanged {
            atomic::write_bytes(path, bytes, mode).map_err(|error| InstallError::Io {
                action: "write",
                path: path.to_owned(),
                cause: error.cause,
            })?;
        }
        self.record(path, change);
        Ok(())
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
        // Absolute patch paths name a place on the Pi, not here.
        let patches = if settings.patch_file.starts_with(self.root) {
            settings.patch_file.clone()
        } else {
            self.path(&settings.patch_file.to_string_lossy())
        };
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
