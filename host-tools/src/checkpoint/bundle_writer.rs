//! Writer of TensorFlow V2 checkpoints, laid out as TensorFlow lays them out: one data shard
//! holding the tensors back to back in name order, and an uncompressed index table whose first
//! entry is the header (one shard, little-endian, producer version 1). Both files are written
//! atomically, the index last. It converts no values: tensors keep their stored type.

use std::path::{Path, PathBuf};

use prost::Message;

use super::atomic::AtomicFile;
use super::bundle::{data_path, index_path, prefix_of};
use super::proto::{BundleEntryProto, BundleHeaderProto, Dim, TensorShapeProto, VersionDef};
use super::table::mask_crc;
use super::table_builder::build_table;
use super::{CheckpointError, EntryInfo, TensorFile};

/// Writes the tensors of `source` that `keep` selects as the checkpoint with prefix `prefix` (a
/// path ending in `.index` names the prefix before it); returns the files written, index first.
pub fn write_bundle<S: TensorFile + ?Sized>(
    prefix: &Path,
    source: &S,
    keep: impl Fn(&EntryInfo) -> bool,
) -> Result<Vec<PathBuf>, CheckpointError> {
    let prefix = prefix_of(prefix);
    let (index_path, data_path) = (index_path(&prefix), data_path(&prefix, 0, 1));
    let mut data = AtomicFile::create(&data_path)?;
    let mut records = Vec::new();
    for entry in source.entries().iter().filter(|entry| keep(entry)) {
        let refuse = |problem: String| CheckpointError::Tensor {
            path: index_path.clone(),
            name: entry.name.clone(),
            problem,
        };
        if entry.name.is_empty() {
            return Err(refuse(
                "the empty name is reserved for the bundle header".to_owned(),
            ));
        }
        let dtype = entry.dtype.tensorflow_code().ok_or_else(|| {
            refuse(format!(
                "holds {} values, which this writer cannot store",
                entry.dtype
            ))
        })?;
        let bytes = source.read_bytes(&entry.name)?;
        entry.check_size(source.path(), bytes.len() as u64)?;
        let record = BundleEntryProto {
            dtype,
            shape: Some(shape_proto(&entry.shape)),
            shard_id: 0,
            offset: data.position() as i64,
            size: bytes.len() as i64,
            crc32c: mask_crc(crc32c::crc32c(&bytes)),
            slices: Vec::new(),
        };
        data.write(&bytes)?;
        records.push((entry.name.as_str(), record));
    }
    let mut index = AtomicFile::create(&index_path)?;
    index.write(&index_table(&single_shard_header(), &records))?;
    // A reader finds the new index only once the data it points into is in place.
    data.commit()?;
    index.commit()?;
    Ok(vec![index_path, data_path])
}

/// One little-endian shard, bundle format version 1.
pub(super) fn single_shard_header() -> BundleHeaderProto {
    BundleHeaderProto {
        num_shards: 1,
        endianness: 0,
        version: Some(VersionDef {
            producer: 1,
            ..VersionDef::default()
        }),
    }
}

/// The index table for `records`, whose names must be strictly increasing and non-empty.
pub(super) fn index_table(
    header: &BundleHeaderProto,
    records: &[(&str, BundleEntryProto)],
) -> Vec<u8> {
    let values: Vec<(&[u8], Vec<u8>)> = std::iter::once((&b""[..], header.encode_to_vec()))
        .chain(
            records
                .iter()
                .map(|(name, record)| (name.as_bytes(), record.encode_to_vec())),
        )
        .collect();
    build_table(values.iter().map(|(key, value)| (*key, &value[..])))
}

fn shape_proto(shape: &[usize]) -> TensorShapeProto {
    TensorShapeProto {
        dim: shape
            .iter()
            .map(|&size| Dim {
                size: size as i64,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    }
}
