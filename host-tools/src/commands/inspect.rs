//! `host-tools inspect`: what a checkpoint holds, tensor by tensor (name, type, shape,
//! parameters), with totals with and without the training state.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::checkpoint::{is_model_variable, Checkpoint, TensorFile, Totals};

/// Prints the listing of the checkpoint at `path` on stdout.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    inspect(path, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// Lists every tensor of the checkpoint at `path` (a `.safetensors` file, or a TensorFlow
/// checkpoint prefix or `.index` file) with its type, shape and parameter count, then totals
/// for all tensors and for the model variables alone.
pub(super) fn inspect(path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
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
