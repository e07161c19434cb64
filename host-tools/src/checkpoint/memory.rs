//! Named tensors held in memory as a `TensorFile`, so that tensors computed or built in a test
//! can go through the same writers and readers as tensors from disk. It never touches files.

use std::collections::BTreeMap;
use std::path::Path;

use super::{position, CheckpointError, DType, EntryInfo, TensorFile};
use crate::tensor::Tensor;

/// Stored tensors in memory, sorted by name.
#[derive(Debug, Clone, Default)]
pub struct MemoryTensors {
    entries: Vec<EntryInfo>,
    bytes: Vec<Vec<u8>>,
}

impl MemoryTensors {
    /// Adds (or replaces) tensor `name` holding the little-endian `bytes` of `dtype` values.
    pub fn insert(
        &mut self,
        name: &str,
        dtype: DType,
        shape: Vec<usize>,
        bytes: Vec<u8>,
    ) -> Result<(), CheckpointError> {
        let entry = EntryInfo {
            name: name.to_owned(),
            dtype,
            shape,
            size: bytes.len() as u64,
        };
        entry.check_size(self.path(), entry.size)?;
        match self
            .entries
            .binary_search_by(|known| known.name.as_str().cmp(name))
        {
            Ok(at) => {
                self.entries[at] = entry;
                self.bytes[at] = bytes;
            }
            Err(at) => {
                self.entries.insert(at, entry);
                self.bytes.insert(at, bytes);
            }
        }
        Ok(())
    }
}

impl From<BTreeMap<String, Tensor>> for MemoryTensors {
    fn from(tensors: BTreeMap<String, Tensor>) -> Self {
        let (entries, bytes) = tensors
            .into_iter()
            .map(|(name, tensor)| {
                let bytes: Vec<u8> = tensor.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                let entry = EntryInfo {
                    name,
                    dtype: DType::F32,
                    shape: tensor.shape,
                    size: bytes.len() as u64,
                };
                (entry, bytes)
            })
            .unzip();
        Self { entries, bytes }
    }
}

impl TensorFile for MemoryTensors {
    fn path(&self) -> &Path {
        Path::new("(tensors in memory)")
    }

    fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }

    fn read_bytes(&self, name: &str) -> Result<Vec<u8>, CheckpointError> {
        position(&self.entries, self.path(), name).map(|at| self.bytes[at].clone())
    }
}

/// A tiny checkpoint inventory for tests: a model variable with its three training slots, a
/// bias, and the training scalars (one of them an integer).
#[cfg(test)]
pub(crate) fn sample() -> MemoryTensors {
    let ramp = |len: usize, scale: f32| (0..len).map(|i| i as f32 * scale - 1.0).collect();
    let mut tensors = MemoryTensors::from(BTreeMap::from(
        [
            ("dilatedconv_1/W", vec![1, 3, 2, 4], 0.25),
            ("dilatedconv_1/W/Adam", vec![1, 3, 2, 4], 0.5),
            ("dilatedconv_1/W/Adam_1", vec![1, 3, 2, 4], 0.75),
            (
                "dilatedconv_1/W/ExponentialMovingAverage",
                vec![1, 3, 2, 4],
                0.125,
            ),
            ("logits/biases", vec![3], -0.5),
            ("beta1_power", vec![], 0.0),
        ]
        .map(|(name, shape, scale)| {
            let len = shape.iter().product();
            (
                name.to_owned(),
                Tensor::new(shape, ramp(len, scale)).unwrap(),
            )
        }),
    ));
    tensors
        .insert(
            "global_step",
            DType::I32,
            vec![],
            200_000i32.to_le_bytes().to_vec(),
        )
        .unwrap();
    tensors
}

/// [`sample`] written as a TensorFlow checkpoint in `folder`, named as the released one; returns
/// its prefix.
#[cfg(test)]
pub(crate) fn sample_checkpoint(folder: &std::path::Path) -> std::path::PathBuf {
    let prefix = folder.join("model.ckpt-200000");
    super::write_bundle(&prefix, &sample(), |_| true).unwrap();
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::TensorSource;

    #[test]
    fn tensors_keep_their_values_sorted_by_name_and_mismatched_sizes_are_refused() {
        let mut tensors = MemoryTensors::from(BTreeMap::from([
            (
                "b".to_owned(),
                Tensor::new(vec![2], vec![1.5, -2.0]).unwrap(),
            ),
            ("a".to_owned(), Tensor::new(vec![], vec![3.0]).unwrap()),
        ]));
        tensors
            .insert("c", DType::I32, vec![], 7i32.to_le_bytes().to_vec())
            .unwrap();
        assert_eq!(tensors.names(), ["a", "b", "c"]);
        assert_eq!(tensors.tensor("b").unwrap().data, [1.5, -2.0]);
        assert_eq!(tensors.tensor("c").unwrap().data, [7.0]);
        let error = tensors
            .insert("d", DType::F32, vec![2], vec![0; 4])
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("holds 4 bytes, but 2 float32 values of shape [2] need 8"),
            "{error}"
        );
        assert!(
            matches!(tensors.tensor("e"), Err(error) if error.to_string().contains("no tensor named \"e\""))
        );
    }
}
