//! The checkpoint commands of the binary: `inspect` lists what a checkpoint holds, `convert`
//! rewrites it in the other format (by default without training state). They print and return
//! reports; argument parsing stays in `main.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{
    is_model_variable, is_safetensors, write_bundle, write_safetensors, Checkpoint, EntryInfo,
    TensorFile,
};

/// Lists every tensor of the checkpoint at `path` (a `.safetensors` file, or a TensorFlow
/// checkpoint prefix or `.index` file) with its type, shape and parameter count, then totals
/// for all tensors and for the model variables alone.
pub fn inspect(path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(path)?;
    let format = match checkpoint {
        Checkpoint::TensorFlow(_) => "TensorFlow checkpoint",
        Checkpoint::Safetensors(_) => "safetensors file",
    };
    let entries = checkpoint.entries();
    let dtypes: Vec<String> = entries
        .iter()
        .map(|entry| entry.dtype.to_string())
        .collect();
    let shapes: Vec<String> = entries
        .iter()
        .map(|entry| format!("{:?}", entry.shape))
        .collect();
    let width = |header: &str, cells: &mut dyn Iterator<Item = usize>| {
        cells.max().unwrap_or(0).max(header.len())
    };
    let name_width = width(
        "variable",
        &mut entries.iter().map(|entry| entry.name.len()),
    );
    let dtype_width = width("dtype", &mut dtypes.iter().map(String::len));
    let shape_width = width("shape", &mut shapes.iter().map(String::len));
    writeln!(out, "{format} {}", checkpoint.path().display())?;
    writeln!(
        out,
        "{:<name_width$}  {:<dtype_width$}  {:<shape_width$}  parameters",
        "variable", "dtype", "shape"
    )?;
    for ((entry, dtype), shape) in entries.iter().zip(&dtypes).zip(&shapes) {
        writeln!(
            out,
            "{:<name_width$}  {dtype:<dtype_width$}  {shape:<shape_width$}  {}",
            entry.name,
            entry.parameters()
        )?;
    }
    let all = Totals::of(entries.iter());
    let model = Totals::of(
        entries
            .iter()
            .filter(|entry| is_model_variable(&entry.name)),
    );
    writeln!(
        out,
        "{} tensors, {} parameters",
        all.tensors, all.parameters
    )?;
    writeln!(
        out,
        "{} model variables, {} parameters (without optimizer and moving-average slots and \
         training scalars)",
        model.tensors, model.parameters
    )?;
    Ok(())
}

/// What `convert` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertReport {
    /// Tensors written.
    pub written: usize,
    /// Tensors left out as training state.
    pub skipped: usize,
    /// Parameters in the tensors written.
    pub parameters: u64,
    /// Files written (a TensorFlow checkpoint's index first).
    pub files: Vec<PathBuf>,
}

/// Rewrites the checkpoint at `from` as `to`: a `.safetensors` file, or else a TensorFlow
/// checkpoint with that prefix. Tensors keep their stored types. Unless `all`, only the model
/// variables are written (no `…/ExponentialMovingAverage`, `…/Adam`, `…/Adam_1`,
/// `global_step`, `beta1_power`, `beta2_power`).
pub fn convert(from: &Path, to: &Path, all: bool) -> anyhow::Result<ConvertReport> {
    let source = Checkpoint::open(from)?;
    let keep = |entry: &EntryInfo| all || is_model_variable(&entry.name);
    let files = if is_safetensors(to) {
        write_safetensors(to, &source, keep)?;
        vec![to.to_owned()]
    } else {
        write_bundle(to, &source, keep)?
    };
    let kept = Totals::of(source.entries().iter().filter(|entry| keep(entry)));
    Ok(ConvertReport {
        written: kept.tensors,
        skipped: source.entries().len() - kept.tensors,
        parameters: kept.parameters,
        files,
    })
}

struct Totals {
    tensors: usize,
    parameters: u64,
}

impl Totals {
    fn of<'a>(entries: impl Iterator<Item = &'a EntryInfo>) -> Totals {
        entries.fold(
            Totals {
                tensors: 0,
                parameters: 0,
            },
            |totals, entry| Totals {
                tensors: totals.tensors + 1,
                parameters: totals.parameters + entry.parameters(),
            },
        )
    }
}
