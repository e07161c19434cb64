//! Writer of TensorFlow V2 checkpoints, laid out as TensorFlow lays them out: one data shard
//! holding the tensors back to back in name order, and an uncompressed index table whose first
//! entry is the header (one shard, little-endian, producer version 1). Both files are written
//! atomically, the index last. It converts no values: tensors keep their stored type.

use std::path::{Path, PathBuf};

use prost::Message;

use super::bundle::{data_path, index_path, prefix_of};
use super::proto::{BundleEntryProto, BundleHeaderProto, Dim, TensorShapeProto, VersionDef};
use super::table::mask_crc;
use super::table_builder::build_table;
use super::{CheckpointError, EntryInfo, TensorFile};
use open_nsynth::atomic::AtomicFile;

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
        data.append(&bytes)?;
        records.push((entry.name.as_str(), record));
    }
    let mut index = AtomicFile::create(&index_path)?;
    index.append(&index_table(&single_shard_header(), &records))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::table::{parse_table, BlockHandle};

    /// The 374 variables of the released NSynth checkpoint: each layer's kernel `W` and its
    /// `biases`, as long as the kernel's last axis.
    fn released_model_variables() -> Vec<(String, Vec<usize>)> {
        let mut layers = vec![("ae_startconv".to_owned(), vec![1, 3, 1, 128])];
        for j in 1..=30 {
            layers.push((format!("ae_dilatedconv_{j}"), vec![1, 3, 128, 128]));
            layers.push((format!("ae_res_{j}"), vec![1, 1, 128, 128]));
        }
        layers.push(("ae_bottleneck".to_owned(), vec![1, 1, 128, 16]));
        layers.push(("startconv".to_owned(), vec![1, 3, 1, 512]));
        layers.push(("skip_start".to_owned(), vec![1, 1, 512, 256]));
        for i in 1..=30 {
            layers.push((format!("dilatedconv_{i}"), vec![1, 3, 512, 1024]));
            layers.push((format!("cond_map_{i}"), vec![1, 1, 16, 1024]));
            layers.push((format!("res_{i}"), vec![1, 1, 512, 512]));
            layers.push((format!("skip_{i}"), vec![1, 1, 512, 256]));
        }
        layers.push(("out1".to_owned(), vec![1, 1, 256, 256]));
        layers.push(("cond_map_out1".to_owned(), vec![1, 1, 16, 256]));
        layers.push(("logits".to_owned(), vec![1, 1, 256, 256]));
        layers
            .into_iter()
            .flat_map(|(layer, kernel)| {
                let biases = vec![kernel[3]];
                [
                    (format!("{layer}/W"), kernel),
                    (format!("{layer}/biases"), biases),
                ]
            })
            .collect()
    }

    /// The released checkpoint's entries as TensorFlow's saver writes them: every variable with
    /// its moving average and Adam slots (none for `res_30`, which gets no gradient), plus the
    /// training scalars, at offsets assigned in name order.
    fn released_records() -> Vec<(String, BundleEntryProto)> {
        let mut entries: Vec<(String, Vec<usize>)> = Vec::new();
        for (name, shape) in released_model_variables() {
            let slots: &[&str] = if name.starts_with("res_30/") {
                &["", "/ExponentialMovingAverage"]
            } else {
                &["", "/ExponentialMovingAverage", "/Adam", "/Adam_1"]
            };
            entries.extend(
                slots
                    .iter()
                    .map(|slot| (format!("{name}{slot}"), shape.clone())),
            );
        }
        for scalar in ["global_step", "beta1_power", "beta2_power"] {
            entries.push((scalar.to_owned(), Vec::new()));
        }
        entries.sort();
        let mut offset = 0;
        entries
            .into_iter()
            .map(|(name, shape)| {
                let size = 4 * shape.iter().product::<usize>() as i64;
                let record = BundleEntryProto {
                    dtype: if name == "global_step" { 3 } else { 1 },
                    shape: Some(shape_proto(&shape)),
                    offset,
                    size,
                    // Any checksum but zero, which proto3 would leave out.
                    crc32c: 0x1234_5678,
                    ..BundleEntryProto::default()
                };
                offset += size;
                (name, record)
            })
            .collect()
    }

    #[test]
    fn the_released_inventory_gives_the_released_index_byte_for_byte_in_size_and_layout() {
        let model_floats: usize = released_model_variables()
            .iter()
            .map(|(_, shape)| shape.iter().product::<usize>())
            .sum();
        assert_eq!(released_model_variables().len(), 374);
        assert_eq!(model_floats, 61_804_048);

        let records = released_records();
        let named: Vec<(&str, BundleEntryProto)> = records
            .iter()
            .map(|(name, record)| (name.as_str(), record.clone()))
            .collect();
        let table = index_table(&single_shard_header(), &named);
        assert_eq!(table.len(), 63_671);
        // One data block of 63 584 bytes at 0, the metaindex at 63 589, the index block (one
        // key, "t") at 63 602, the footer at 63 623.
        let mut footer = Vec::new();
        BlockHandle {
            offset: 63_589,
            size: 8,
        }
        .encode(&mut footer);
        BlockHandle {
            offset: 63_602,
            size: 16,
        }
        .encode(&mut footer);
        assert_eq!(table[63_623..63_623 + footer.len()], footer);
        assert_eq!(table[63_602..63_606], [0, 1, 4, b't']);

        let entries = parse_table(Path::new("released.index"), &table).unwrap();
        assert_eq!(entries.len(), 1_496);
        let located = |name: &str| {
            let entry = entries
                .iter()
                .find(|entry| entry.key == name.as_bytes())
                .unwrap();
            let record = BundleEntryProto::decode(&entry.value[..]).unwrap();
            (record.offset, record.size)
        };
        assert_eq!(located("ae_bottleneck/W"), (0, 8_192));
        assert_eq!(located("ae_bottleneck/W/Adam").0, 8_192);
        assert_eq!(located("ae_dilatedconv_1/W").0, 33_024);
        assert_eq!(located("dilatedconv_1/W"), (40_046_856, 6_291_456));
        assert_eq!(located("logits/W").0, 795_513_100);
        assert_eq!(located("startconv/W").0, 986_730_764);
        let last = entries.last().unwrap();
        assert_eq!(last.key, b"startconv/biases/ExponentialMovingAverage");
        let (offset, size) = located("startconv/biases/ExponentialMovingAverage");
        assert_eq!(offset + size, 986_763_532);
    }
}
