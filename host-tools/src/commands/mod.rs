//! The host-tools commands, one module each, in the order of the pad factory: `inspect` and
//! `convert` a checkpoint, `encode` recordings, `logits`, `generate` audio, the whole
//! `pipeline` (both after the `estimate` of their cost), a `slurm` job of it, `grains`, `bench`
//! a GPU or the CPU, and check `pads`. `cli` parses the
//! command line and calls a command's `run`, which does the work through the library and prints
//! its outcome on stdout: the only printing in host-tools (progress bars go to stderr through
//! [`Progress`](crate::progress::Progress), remarks to `tracing`). Errors are `anyhow` with the
//! context a user needs.

pub mod bench;
pub mod convert;
pub mod encode;
pub mod estimate;
pub mod generate;
pub mod grains;
pub mod inspect;
pub mod logits;
pub mod pads;
pub mod pipeline;
pub mod slurm;

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _};

use crate::folder::files_with_extensions;

/// The files a command works on: `input` itself, or the files of the folder `input` whose
/// extension is one of `extensions`, in path order; a folder with none is an error saying it
/// holds no `what`.
fn inputs(input: &Path, extensions: &[&str], what: &str) -> anyhow::Result<Vec<PathBuf>> {
    if !input.is_dir() {
        return Ok(vec![input.to_path_buf()]);
    }
    let found = files_with_extensions(input, extensions)
        .with_context(|| format!("cannot list {}", input.display()))?;
    ensure!(!found.is_empty(), "{} holds no {what}", input.display());
    Ok(found)
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(test)]
mod tests;
