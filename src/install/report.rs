//! `InstallReport`: what install did to each file it looked after (created, updated, unchanged,
//! kept), where the pads are, the notes that will matter when the Pi boots, and how that reads
//! on a terminal. It never touches the card.

use std::fmt;
use std::path::PathBuf;

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    /// Already as it should be; not written.
    Unchanged,
    /// The user's own file, left as it is.
    Kept,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The file as seen from this computer.
    pub path: PathBuf,
    pub change: Change,
}

/// Every file install looked after, and what the user should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// The boot partition that was used.
    pub boot_dir: PathBuf,
    pub files: Vec<FileChange>,
    /// Things that will matter when the Pi boots: kept files, missing users or groups, warnings
    /// about the settings.
    pub notes: Vec<String>,
    /// Where the pads are; `None` when the card's settings are too broken to say.
    pub pads: Option<PadsLine>,
}

/// Where the pads are on the Pi, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PadsLine {
    /// `--pads` was given: its pads were copied into `folder`, or were there already.
    Copied {
        folder: PathBuf,
        copied: usize,
        unchanged: usize,
    },
    /// No `--pads` in the read-only layout: the pads partition, mounted at `folder`, was kept
    /// with its `count` pads.
    Kept { folder: PathBuf, count: usize },
    /// No `--pads`: `present` of the `selectable` pads the settings can select are in `folder`.
    Expected {
        folder: PathBuf,
        present: usize,
        selectable: usize,
    },
}

impl fmt::Display for PadsLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PadsLine::Copied {
                folder,
                copied,
                unchanged,
            } => write!(
                f,
                "pads: {copied} copied, {unchanged} unchanged, in {} on the Pi",
                folder.display()
            ),
            PadsLine::Kept { folder, count } => write!(
                f,
                "pads: the pads partition was kept as it is, with {count} pads, mounted at {} on \
                 the Pi; --pads remakes it",
                folder.display()
            ),
            PadsLine::Expected {
                folder,
                present,
                selectable,
            } if present == selectable => write!(
                f,
                "pads: all {selectable} the settings select are in {} on the card",
                folder.display()
            ),
            PadsLine::Expected {
                folder,
                present,
                selectable,
            } => write!(
                f,
                "pads: {present} of {selectable} the settings select are in {} on the card; \
                 copy them there or use --pads",
                folder.display()
            ),
        }
    }
}

impl InstallReport {
    /// Whether any file was created or rewritten.
    pub fn changed_anything(&self) -> bool {
        self.files
            .iter()
            .any(|file| matches!(file.change, Change::Created | Change::Updated))
    }
}

impl fmt::Display for InstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "boot partition: {}", self.boot_dir.display())?;
        for file in &self.files {
            let change = match file.change {
                Change::Created => "created",
                Change::Updated => "updated",
                Change::Unchanged => "unchanged",
                Change::Kept => "kept",
            };
            writeln!(f, "  {change:<9}  {}", file.path.display())?;
        }
        if let Some(pads) = &self.pads {
            writeln!(f, "{pads}")?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        if self.changed_anything() {
            write!(f, "Done: open-nsynth starts when the Pi boots.")
        } else {
            write!(
                f,
                "Nothing to change: the card was already set up for this board."
            )
        }
    }
}
