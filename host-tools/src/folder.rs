//! Finding input files in a folder: those whose extension is one of a list, in any case, in
//! path order. The one way host-tools lists recordings and embeddings; it never opens the files.

use std::io;
use std::path::{Path, PathBuf};

/// The files of `dir` whose extension is one of `extensions` (lower case), sorted by path.
pub fn files_with_extensions(dir: &Path, extensions: &[&str]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e.to_ascii_lowercase().as_str()));
        if wanted && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
