//! `host-tools convert`: a checkpoint rewritten in the other format, TensorFlow to
//! safetensors or back, by default without the training state.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::checkpoint::{
    is_model_variable, is_safetensors, write_bundle, write_safetensors, Checkpoint, EntryInfo,
    TensorFile, Totals,
};

/// Converts and lists the files written, then counts the tensors written and left out.
pub fn run(from: &Path, to: &Path, all: bool) -> anyhow::Result<ExitCode> {
    let report = convert(from, to, all)?;
    for file in &report.files {
        println!("wrote {}", file.display());
    }
    println!(
        "{} tensors, {} parameters; {} left out",
        report.written, report.parameters, report.skipped
    );
    Ok(ExitCode::SUCCESS)
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
pub(super) fn convert(from: &Path, to: &Path, all: bool) -> anyhow::Result<ConvertReport> {
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
