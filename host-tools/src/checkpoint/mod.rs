//! Model weights on disk: TensorFlow V2 checkpoints ("tensor bundles") and safetensors files,
//! opened by path, listed, read tensor by tensor on demand, and written atomically. Readers never
//! load a whole data file (the released checkpoint's is 987 MB, the model needs a quarter of it)
//! and never trust a byte they have not checked; which variables a model needs is the model's
//! business, `is_model_variable` only tells training leftovers apart.

mod bundle;
mod bundle_writer;
mod dtype;
mod error;
mod memory;
mod proto;
mod safetensors;
mod table;
mod table_builder;

use std::path::Path;

pub use self::safetensors::{write_safetensors, SafetensorsFile};
pub use bundle::{CheckpointIndex, TfCheckpoint};
pub use bundle_writer::write_bundle;
pub use dtype::DType;
pub use error::CheckpointError;
pub use memory::MemoryTensors;
#[cfg(test)]
pub(crate) use memory::{sample, sample_checkpoint};

use crate::tensor::{Tensor, TensorSource};

/// What a file says about one stored tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Bytes the tensor occupies in the file.
    pub size: u64,
}

impl EntryInfo {
    /// Number of elements (1 for a scalar), saturating on absurd shapes.
    pub fn parameters(&self) -> u64 {
        self.shape
            .iter()
            .fold(1u64, |count, &dim| count.saturating_mul(dim as u64))
    }

    /// The byte count its type and shape call for; `None` for unsupported types.
    fn expected_size(&self) -> Option<u64> {
        let element_size = self.dtype.element_size()? as u64;
        self.shape
            .iter()
            .try_fold(element_size, |size, &dim| size.checked_mul(dim as u64))
    }

    /// Fails unless `size` bytes are what the type and shape call for.
    fn check_size(&self, path: &Path, size: u64) -> Result<(), CheckpointError> {
        match self.expected_size() {
            Some(expected) if expected == size => Ok(()),
            expected => Err(CheckpointError::Tensor {
                path: path.to_owned(),
                name: self.name.clone(),
                problem: match expected {
                    Some(expected) => format!(
                        "holds {size} bytes, but {} {} values of shape {:?} need {expected}",
                        self.parameters(),
                        self.dtype,
                        self.shape
                    ),
                    None => format!("holds {} values, which cannot be converted", self.dtype),
                },
            }),
        }
    }
}

/// A file of named tensors whose bytes are read on demand.
pub trait TensorFile {
    /// The file errors name.
    fn path(&self) -> &Path;
    /// Every stored tensor, sorted by name, names unique.
    fn entries(&self) -> &[EntryInfo];
    /// The stored little-endian bytes of tensor `name`, checked against the type and shape
    /// (and against the stored checksum where the format has one).
    fn read_bytes(&self, name: &str) -> Result<Vec<u8>, CheckpointError>;

    fn entry(&self, name: &str) -> Result<&EntryInfo, CheckpointError> {
        let entries = self.entries();
        position(entries, self.path(), name).map(|at| &entries[at])
    }

    /// Reads every tensor, which checks its size, that its bytes lie inside the file, and its
    /// checksum where the format stores one; returns what failed, in name order.
    fn verify(&self) -> Vec<CheckpointError> {
        self.entries()
            .iter()
            .filter_map(|entry| self.read_bytes(&entry.name).err())
            .collect()
    }

    /// Tensor `name` widened to `f32`.
    fn read_tensor(&self, name: &str) -> Result<Tensor, CheckpointError> {
        let entry = self.entry(name)?;
        let unsupported = || CheckpointError::UnsupportedDtype {
            path: self.path().to_owned(),
            name: name.to_owned(),
            dtype: entry.dtype.to_string(),
        };
        if entry.dtype.element_size().is_none() {
            return Err(unsupported());
        }
        let bytes = self.read_bytes(name)?;
        let data = entry.dtype.to_f32(&bytes).ok_or_else(unsupported)?;
        Tensor::new(entry.shape.clone(), data).ok_or_else(|| CheckpointError::Tensor {
            path: self.path().to_owned(),
            name: name.to_owned(),
            problem: format!("holds {} bytes, which do not fill its shape", bytes.len()),
        })
    }
}

impl<F: TensorFile> TensorSource for F {
    fn tensor(&self, name: &str) -> anyhow::Result<Tensor> {
        Ok(self.read_tensor(name)?)
    }

    fn names(&self) -> Vec<String> {
        self.entries()
            .iter()
            .map(|entry| entry.name.clone())
            .collect()
    }
}

/// How many tensors and parameters some entries hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub tensors: usize,
    pub parameters: u64,
}

impl Totals {
    pub fn of<'a>(entries: impl Iterator<Item = &'a EntryInfo>) -> Totals {
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

/// A checkpoint in either format, chosen by the path: a `.safetensors` file, or else a
/// TensorFlow checkpoint prefix (or its `.index` file).
pub enum Checkpoint {
    TensorFlow(TfCheckpoint),
    Safetensors(SafetensorsFile),
}

impl Checkpoint {
    pub fn open(path: &Path) -> Result<Checkpoint, CheckpointError> {
        Ok(if is_safetensors(path) {
            Checkpoint::Safetensors(SafetensorsFile::open(path)?)
        } else {
            Checkpoint::TensorFlow(TfCheckpoint::open(path)?)
        })
    }

    fn file(&self) -> &dyn TensorFile {
        match self {
            Checkpoint::TensorFlow(checkpoint) => checkpoint,
            Checkpoint::Safetensors(file) => file,
        }
    }
}

impl TensorFile for Checkpoint {
    fn path(&self) -> &Path {
        self.file().path()
    }

    fn entries(&self) -> &[EntryInfo] {
        self.file().entries()
    }

    fn read_bytes(&self, name: &str) -> Result<Vec<u8>, CheckpointError> {
        self.file().read_bytes(name)
    }
}

/// Where tensor `name` sits in `entries` (sorted by name) of the file at `path`.
fn position(entries: &[EntryInfo], path: &Path, name: &str) -> Result<usize, CheckpointError> {
    entries
        .binary_search_by(|entry| entry.name.as_str().cmp(name))
        .map_err(|_| CheckpointError::NotFound {
            path: path.to_owned(),
            name: name.to_owned(),
        })
}

/// Whether `path` names a safetensors file rather than a TensorFlow checkpoint.
pub fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension == "safetensors")
}

/// Training state saved beside each weight: its moving average and Adam's two moments.
const SLOT_SUFFIXES: [&str; 3] = ["/ExponentialMovingAverage", "/Adam", "/Adam_1"];
/// The step counter and Adam's bias-correction powers.
const TRAINING_SCALARS: [&str; 3] = ["global_step", "beta1_power", "beta2_power"];

/// Whether `name` is a weight of the model rather than optimizer or moving-average state.
pub fn is_model_variable(name: &str) -> bool {
    !TRAINING_SCALARS.contains(&name) && !SLOT_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_state_is_not_a_model_variable() {
        assert!(is_model_variable("dilatedconv_1/W"));
        assert!(is_model_variable("ae_bottleneck/biases"));
        assert!(!is_model_variable("dilatedconv_1/W/Adam"));
        assert!(!is_model_variable("dilatedconv_1/W/Adam_1"));
        assert!(!is_model_variable("logits/biases/ExponentialMovingAverage"));
        assert!(!is_model_variable("global_step"));
        assert!(!is_model_variable("beta2_power"));
    }
}
