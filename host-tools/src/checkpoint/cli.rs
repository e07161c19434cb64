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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::memory::{sample, sample_checkpoint};
    use crate::checkpoint::{DType, SafetensorsFile, TfCheckpoint};
    use crate::tensor::TensorSource;

    fn inspected(path: &Path) -> String {
        let mut out = Vec::new();
        inspect(path, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn inspect_lists_every_tensor_and_totals_with_and_without_training_state() {
        let folder = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(folder.path());
        let listing = inspected(&prefix);
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(
            lines[0],
            format!("TensorFlow checkpoint {}.index", prefix.display())
        );
        assert_eq!(lines.len(), 2 + 7 + 2, "{listing}");
        let name_width = "dilatedconv_1/W/ExponentialMovingAverage".len();
        assert_eq!(
            lines[1],
            format!(
                "{:<name_width$}  dtype    shape         parameters",
                "variable"
            )
        );
        assert_eq!(
            lines[3],
            format!(
                "{:<name_width$}  float32  [1, 3, 2, 4]  24",
                "dilatedconv_1/W"
            )
        );
        assert_eq!(
            lines[7],
            format!("{:<name_width$}  int32    []            1", "global_step")
        );
        assert_eq!(lines[9], "7 tensors, 101 parameters");
        assert!(
            lines[10].starts_with("2 model variables, 27 parameters"),
            "{listing}"
        );

        let converted = folder.path().join("all.safetensors");
        convert(&prefix, &converted, true).unwrap();
        let listing = inspected(&converted);
        assert!(listing.starts_with("safetensors file "), "{listing}");
        assert!(listing.contains("7 tensors, 101 parameters"), "{listing}");
    }

    #[test]
    fn convert_keeps_only_model_variables_unless_asked_and_round_trips_exactly() {
        let folder = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(folder.path());
        let weights = folder.path().join("nsynth.safetensors");
        let report = convert(&prefix, &weights, false).unwrap();
        assert_eq!(
            report,
            ConvertReport {
                written: 2,
                skipped: 5,
                parameters: 27,
                files: vec![weights.clone()],
            }
        );
        let file = SafetensorsFile::open(&weights).unwrap();
        assert_eq!(file.names(), ["dilatedconv_1/W", "logits/biases"]);

        let back = folder.path().join("back").join("model.ckpt");
        std::fs::create_dir(back.parent().unwrap()).unwrap();
        let report = convert(&weights, &back, false).unwrap();
        let index = back.with_file_name("model.ckpt.index");
        let data = back.with_file_name("model.ckpt.data-00000-of-00001");
        assert_eq!(report.files, [index, data]);
        let checkpoint = TfCheckpoint::open(&back).unwrap();
        let original = sample();
        for name in checkpoint.names() {
            assert_eq!(
                checkpoint.tensor(&name).unwrap(),
                original.tensor(&name).unwrap()
            );
        }

        let everything = folder.path().join("everything.safetensors");
        let report = convert(&prefix, &everything, true).unwrap();
        assert_eq!((report.written, report.skipped), (7, 0));
        let file = SafetensorsFile::open(&everything).unwrap();
        assert_eq!(file.entry("global_step").unwrap().dtype, DType::I32);
        assert_eq!(
            file.read_bytes("global_step").unwrap(),
            200_000i32.to_le_bytes()
        );
    }

    #[test]
    fn a_missing_checkpoint_is_named() {
        let folder = tempfile::tempdir().unwrap();
        let missing = folder.path().join("nothing-here");
        let error = convert(&missing, &folder.path().join("out.safetensors"), false).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("nothing-here.index: reading the index"),
            "{error}"
        );
    }
}
