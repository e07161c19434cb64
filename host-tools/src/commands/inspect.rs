//! `host-tools inspect`: what a checkpoint holds, tensor by tensor (name, type, shape,
//! parameters), with totals with and without the training state, and whether every tensor's
//! bytes are there and intact. It only reads; a damaged file is reported, never repaired.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::checkpoint::{is_model_variable, Checkpoint, TensorFile, Totals};

/// Prints the listing of the checkpoint at `path` on stdout, then verifies it unless `quick`.
pub fn run(path: &Path, quick: bool) -> anyhow::Result<ExitCode> {
    inspect(path, quick, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// Lists every tensor of the checkpoint at `path` (a `.safetensors` file, or a TensorFlow
/// checkpoint prefix or `.index` file) with its type, shape and parameter count, then totals
/// for all tensors and for the model variables alone. Unless `quick`, then reads every tensor
/// ([`TensorFile::verify`]) and fails with the first tensor found wrong, naming its bytes.
pub(super) fn inspect(path: &Path, quick: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(path)?;
    let (format, verified) = match checkpoint {
        Checkpoint::TensorFlow(_) => (
            "TensorFlow checkpoint",
            "every one lies inside its data file and matches its checksum",
        ),
        Checkpoint::Safetensors(_) => (
            "safetensors file",
            "every one lies inside the file (safetensors files hold no checksums, so damaged \
             bytes go unnoticed)",
        ),
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
    if quick {
        return Ok(());
    }
    let failures = checkpoint.verify();
    let failed = failures.len();
    if let Some(first) = failures.into_iter().next() {
        let total = entries.len();
        let context = match failed {
            1 => format!("1 of {total} tensors fails verification"),
            _ => format!("{failed} of {total} tensors fail verification, the first"),
        };
        return Err(anyhow::Error::new(first).context(context));
    }
    writeln!(out, "verified {} tensors: {verified}", entries.len())?;
    Ok(())
}
