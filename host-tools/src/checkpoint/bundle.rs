//! Reader of TensorFlow V2 checkpoints ("tensor bundles"): the `.index` table's header and
//! entries, checked, and each tensor's bytes read from its data shard on demand with a positioned
//! read and a CRC check. It never reads a data file whole and never reads a tensor nobody asked
//! for.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use prost::Message;

use super::proto::{BundleEntryProto, BundleHeaderProto, TensorShapeProto};
use super::table::{parse_table, unmask_crc, TableEntry};
use super::{position, CheckpointError, DType, EntryInfo, TensorFile};

/// The bundle format version this reader understands (TensorFlow's `kTensorBundleVersion`).
const BUNDLE_VERSION: i32 = 1;
const LITTLE_ENDIAN: i32 = 0;

/// An open TensorFlow checkpoint: its index, and the data shards to read the entries from.
#[derive(Debug)]
pub struct TfCheckpoint {
    index_path: PathBuf,
    index: CheckpointIndex,
    shards: Vec<Shard>,
}

/// A checkpoint's `.index` file, read and checked: the entries, where each one's bytes lie, and
/// how many data shards hold them. It never opens a data file.
#[derive(Debug)]
pub struct CheckpointIndex {
    entries: Vec<EntryInfo>,
    locations: Vec<Location>,
    num_shards: usize,
}

/// Where an entry's bytes lie.
#[derive(Debug)]
struct Location {
    shard: usize,
    offset: u64,
    masked_crc: u32,
}

#[derive(Debug)]
struct Shard {
    path: PathBuf,
    file: File,
    len: u64,
}

/// `prefix.index`.
pub(super) fn index_path(prefix: &Path) -> PathBuf {
    with_suffix(prefix, ".index")
}

/// `prefix.data-00000-of-00001` and so on.
pub(super) fn data_path(prefix: &Path, shard: usize, shards: usize) -> PathBuf {
    with_suffix(prefix, &format!(".data-{shard:05}-of-{shards:05}"))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut path = OsString::from(prefix);
    path.push(suffix);
    PathBuf::from(path)
}

/// The prefix a path names: itself, or the path without `.index` when it names the index.
pub(super) fn prefix_of(path: &Path) -> PathBuf {
    match path.to_str().and_then(|text| text.strip_suffix(".index")) {
        Some(prefix) => PathBuf::from(prefix),
        None => path.to_owned(),
    }
}

impl TfCheckpoint {
    /// Opens the checkpoint with prefix `path` (e.g. `…/model.ckpt-200000`), or whose `.index`
    /// file `path` names: reads and checks the whole index and opens the data shards.
    pub fn open(path: &Path) -> Result<TfCheckpoint, CheckpointError> {
        let prefix = prefix_of(path);
        let index_path = index_path(&prefix);
        let bytes = std::fs::read(&index_path).map_err(|cause| CheckpointError::Io {
            path: index_path.clone(),
            action: "reading the index",
            cause,
        })?;
        let index = CheckpointIndex::parse(&index_path, &bytes)?;
        let shards = (0..index.num_shards)
            .map(|shard| open_shard(data_path(&prefix, shard, index.num_shards)))
            .collect::<Result<_, _>>()?;
        Ok(TfCheckpoint {
            index_path,
            index,
            shards,
        })
    }
}

impl CheckpointIndex {
    /// Reads and checks `bytes`, the contents of the index file `index_path` (which errors
    /// name).
    pub fn parse(index_path: &Path, bytes: &[u8]) -> Result<CheckpointIndex, CheckpointError> {
        let table = parse_table(index_path, bytes)?;
        let Some((header_entry, tensor_entries)) = table
            .split_first()
            .filter(|(first, _)| first.key.is_empty())
        else {
            return Err(CheckpointError::Malformed {
                path: index_path.to_owned(),
                offset: table.first().map_or(0, |entry| entry.offset),
                expected: "the bundle header (the entry with the empty key) first".to_owned(),
            });
        };
        let num_shards = read_header(index_path, header_entry)?;
        let mut entries = Vec::with_capacity(tensor_entries.len());
        let mut locations = Vec::with_capacity(tensor_entries.len());
        for table_entry in tensor_entries {
            let (entry, location) = read_entry(index_path, table_entry, num_shards)?;
            entries.push(entry);
            locations.push(location);
        }
        Ok(CheckpointIndex {
            entries,
            locations,
            num_shards,
        })
    }

    /// Every entry the index lists, sorted by name.
    pub fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }
}

impl TensorFile for TfCheckpoint {
    fn path(&self) -> &Path {
        &self.index_path
    }

    fn entries(&self) -> &[EntryInfo] {
        self.index.entries()
    }

    fn read_bytes(&self, name: &str) -> Result<Vec<u8>, CheckpointError> {
        let at = position(self.entries(), &self.index_path, name)?;
        let (entry, location) = (&self.index.entries[at], &self.index.locations[at]);
        if entry.dtype.element_size().is_some() {
            entry.check_size(&self.index_path, entry.size)?;
        }
        let shard = &self.shards[location.shard];
        let truncated = || CheckpointError::Truncated {
            path: shard.path.clone(),
            name: name.to_owned(),
            offset: location.offset,
            size: entry.size,
            file_len: shard.len,
        };
        if location
            .offset
            .checked_add(entry.size)
            .is_none_or(|end| end > shard.len)
        {
            return Err(truncated());
        }
        let mut bytes = vec![0; entry.size as usize];
        shard
            .file
            .read_exact_at(&mut bytes, location.offset)
            .map_err(|cause| match cause.kind() {
                std::io::ErrorKind::UnexpectedEof => truncated(),
                _ => CheckpointError::Io {
                    path: shard.path.clone(),
                    action: "reading tensor bytes",
                    cause,
                },
            })?;
        let expected = unmask_crc(location.masked_crc);
        let found = crc32c::crc32c(&bytes);
        if found != expected {
            return Err(CheckpointError::TensorChecksum {
                path: shard.path.clone(),
                name: name.to_owned(),
                offset: location.offset,
                size: entry.size,
                expected,
                found,
            });
        }
        Ok(bytes)
    }
}

/// Checks the header and returns the number of data shards.
fn read_header(index_path: &Path, entry: &TableEntry) -> Result<usize, CheckpointError> {
    let malformed = |expected: String| CheckpointError::Malformed {
        path: index_path.to_owned(),
        offset: entry.value_offset,
        expected,
    };
    let header = BundleHeaderProto::decode(&entry.value[..])
        .map_err(|error| malformed(format!("a BundleHeaderProto ({error})")))?;
    let version = header.version.unwrap_or_default();
    if version.min_consumer > BUNDLE_VERSION || version.bad_consumers.contains(&BUNDLE_VERSION) {
        return Err(malformed(format!(
            "a bundle readable by format version {BUNDLE_VERSION}, found one that needs version \
             {} or later{}; it was written by a newer TensorFlow",
            version.min_consumer,
            if version.bad_consumers.is_empty() {
                String::new()
            } else {
                format!(" and excludes versions {:?}", version.bad_consumers)
            }
        )));
    }
    if header.endianness != LITTLE_ENDIAN {
        return Err(malformed(format!(
            "little-endian tensors (endianness 0); big-endian checkpoints are not supported, \
             found endianness {}",
            header.endianness
        )));
    }
    usize::try_from(header.num_shards)
        .ok()
        .filter(|&shards| shards >= 1)
        .ok_or_else(|| {
            malformed(format!(
                "at least 1 data shard, found {}",
                header.num_shards
            ))
        })
}

fn read_entry(
    index_path: &Path,
    table_entry: &TableEntry,
    num_shards: usize,
) -> Result<(EntryInfo, Location), CheckpointError> {
    let name =
        String::from_utf8(table_entry.key.clone()).map_err(|_| CheckpointError::Malformed {
            path: index_path.to_owned(),
            offset: table_entry.offset,
            expected: format!(
                "a UTF-8 tensor name, found {:?}",
                String::from_utf8_lossy(&table_entry.key)
            ),
        })?;
    let proto = BundleEntryProto::decode(&table_entry.value[..]).map_err(|error| {
        CheckpointError::Malformed {
            path: index_path.to_owned(),
            offset: table_entry.value_offset,
            expected: format!("a BundleEntryProto for {name:?} ({error})"),
        }
    })?;
    let problem = |problem: String| CheckpointError::Entry {
        path: index_path.to_owned(),
        offset: table_entry.offset,
        name: name.clone(),
        problem,
    };
    if !proto.slices.is_empty() {
        return Err(problem(
            "is a slice of a partitioned variable, which is not supported".to_owned(),
        ));
    }
    let shard = usize::try_from(proto.shard_id)
        .ok()
        .filter(|&shard| shard < num_shards)
        .ok_or_else(|| {
            problem(format!(
                "names data shard {}, but there are {num_shards}",
                proto.shard_id
            ))
        })?;
    let (Ok(offset), Ok(size)) = (u64::try_from(proto.offset), u64::try_from(proto.size)) else {
        return Err(problem(format!(
            "has a negative offset or size ({}, {})",
            proto.offset, proto.size
        )));
    };
    let shape = read_shape(proto.shape.unwrap_or_default()).map_err(problem)?;
    let entry = EntryInfo {
        name: name.clone(),
        dtype: DType::from_tensorflow(proto.dtype),
        shape,
        size,
    };
    let location = Location {
        shard,
        offset,
        masked_crc: proto.crc32c,
    };
    Ok((entry, location))
}

fn read_shape(shape: TensorShapeProto) -> Result<Vec<usize>, String> {
    if shape.unknown_rank {
        return Err("has a shape of unknown rank".to_owned());
    }
    shape
        .dim
        .iter()
        .map(|dim| {
            usize::try_from(dim.size).map_err(|_| format!("has a dimension of size {}", dim.size))
        })
        .collect()
}

fn open_shard(path: PathBuf) -> Result<Shard, CheckpointError> {
    let opened = File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file)));
    match opened {
        Ok((len, file)) => Ok(Shard { path, file, len }),
        Err(cause) => Err(CheckpointError::Io {
            path,
            action: "opening the checkpoint's data file",
            cause,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;

    use super::*;
    use crate::checkpoint::bundle_writer::{index_table, single_shard_header};
    use crate::checkpoint::memory::{sample, sample_checkpoint};
    use crate::checkpoint::{write_bundle, MemoryTensors};
    use crate::tensor::TensorSource;

    fn flip_byte(path: &Path, offset: u64) {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mut byte = [0];
        file.read_exact_at(&mut byte, offset).unwrap();
        file.write_all_at(&[byte[0] ^ 0x10], offset).unwrap();
    }

    fn float_record(offset: i64, size: i64, shape: &[i64]) -> BundleEntryProto {
        BundleEntryProto {
            dtype: 1,
            shape: Some(TensorShapeProto {
                dim: shape
                    .iter()
                    .map(|&size| super::super::proto::Dim {
                        size,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }),
            offset,
            size,
            ..BundleEntryProto::default()
        }
    }

    /// A checkpoint whose index holds `records` under `header` and whose data file is `data`.
    fn hand_made(
        folder: &Path,
        header: &BundleHeaderProto,
        records: &[(&str, BundleEntryProto)],
        data: &[u8],
    ) -> PathBuf {
        let prefix = folder.join("hand-made");
        std::fs::write(index_path(&prefix), index_table(header, records)).unwrap();
        std::fs::write(data_path(&prefix, 0, 1), data).unwrap();
        prefix
    }

    #[test]
    fn a_written_checkpoint_reads_back_by_prefix_or_index_path() {
        let folder = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(folder.path());
        let source = sample();
        for path in [prefix.clone(), index_path(&prefix)] {
            let checkpoint = TfCheckpoint::open(&path).unwrap();
            assert_eq!(checkpoint.entries(), source.entries());
            assert_eq!(checkpoint.names(), source.names());
            for name in source.names() {
                assert_eq!(
                    checkpoint.tensor(&name).unwrap(),
                    source.tensor(&name).unwrap()
                );
            }
            assert_eq!(checkpoint.tensor("global_step").unwrap().data, [200_000.0]);
            assert_eq!(checkpoint.entry("global_step").unwrap().dtype, DType::I32);
        }
    }

    #[test]
    fn the_header_comes_first_and_tensors_lie_back_to_back_in_name_order() {
        let folder = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(folder.path());
        let table = parse_table(
            &index_path(&prefix),
            &std::fs::read(index_path(&prefix)).unwrap(),
        )
        .unwrap();
        assert_eq!(table[0].key, b"");
        assert_eq!(table[0].value, [0x08, 0x01, 0x1a, 0x02, 0x08, 0x01]);
        let mut next_offset = 0;
        for entry in &table[1..] {
            let record = BundleEntryProto::decode(&entry.value[..]).unwrap();
            assert_eq!(record.offset, next_offset);
            next_offset += record.size;
        }
        let data_len = std::fs::metadata(data_path(&prefix, 0, 1)).unwrap().len();
        assert_eq!(data_len, next_offset as u64);
        assert_eq!(table.len(), 1 + sample().entries().len());
    }

    #[test]
    fn narrower_and_wider_float_types_read_as_f32() {
        let folder = tempfile::tempdir().unwrap();
        let mut tensors = MemoryTensors::default();
        let halves = [0x3c00u16, 0xc100]
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect();
        tensors.insert("half", DType::F16, vec![2], halves).unwrap();
        let doubles = [0.25f64, -3.0]
            .iter()
            .flat_map(|d| d.to_le_bytes())
            .collect();
        tensors
            .insert("double", DType::F64, vec![2, 1], doubles)
            .unwrap();
        let prefix = folder.path().join("mixed");
        write_bundle(&prefix, &tensors, |_| true).unwrap();
        let checkpoint = TfCheckpoint::open(&prefix).unwrap();
        assert_eq!(checkpoint.tensor("half").unwrap().data, [1.0, -2.5]);
        assert_eq!(checkpoint.tensor("double").unwrap().shape, [2, 1]);
        assert_eq!(checkpoint.tensor("double").unwrap().data, [0.25, -3.0]);
    }

    #[test]
    fn a_corrupt_tensor_names_itself_and_spares_the_others() {
        let folder = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(folder.path());
        let checkpoint = TfCheckpoint::open(&prefix).unwrap();
        // "beta1_power" (4 bytes) comes first, so byte 5 belongs to "dilatedconv_1/W".
        flip_byte(&data_path(&prefix, 0, 1), 5);
        let error = checkpoint.read_tensor("dilatedconv_1/W").unwrap_err();
        assert!(
            matches!(&error, CheckpointError::TensorChecksum { name, expected, found, .. }
                if name == "dilatedconv_1/W" && expected != found),
            "{error}"
        );
        assert!(
            error.to_string().contains(
                "tensor \"dilatedconv_1/W\" at bytes 4..100: checksum mismatch (expected 0x"
            ),
            "{error}"
        );
        assert!(checkpoint.read_tensor("logits/biases").is_ok());
        assert!(checkpoint.read_tensor("beta1_power").is_ok());
        let failures = checkpoint.verify();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            matches!(&failures[0], CheckpointError::TensorChecksum { name, .. } if name == "dilatedconv_1/W")
        );
    }

    #[test]
    fn a_truncated_data_file_names_the_tensor_and_the_sizes() {
        let folder = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(folder.path());
        let data = data_path(&prefix, 0, 1);
        let len = std::fs::metadata(&data).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&data)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        let checkpoint = TfCheckpoint::open(&prefix).unwrap();
        let error = checkpoint.read_tensor("logits/biases").unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, CheckpointError::Truncated { size: 12, .. }),
            "{message}"
        );
        assert!(
            message.contains(&format!(
                "tensor \"logits/biases\" needs bytes {}..{len} but the file has only {} bytes",
                len - 12,
                len - 2
            )),
            "{message}"
        );
        assert!(checkpoint.read_tensor("dilatedconv_1/W").is_ok());
        let failures: Vec<String> = checkpoint
            .verify()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("\"logits/biases\" needs bytes"));
    }

    #[test]
    fn a_corrupt_index_block_names_its_offset() {
        let folder = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(folder.path());
        flip_byte(&index_path(&prefix), 20);
        let error = TfCheckpoint::open(&prefix).unwrap_err();
        assert!(
            matches!(error, CheckpointError::BlockChecksum { offset: 0, .. }),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("block at byte 0: checksum mismatch"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_data_file_is_named() {
        let folder = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(folder.path());
        std::fs::remove_file(data_path(&prefix, 0, 1)).unwrap();
        let error = TfCheckpoint::open(&prefix).unwrap_err().to_string();
        assert!(
            error.contains("model.ckpt-200000.data-00000-of-00001: opening"),
            "{error}"
        );
    }

    #[test]
    fn sliced_entries_are_refused_with_their_name() {
        let folder = tempfile::tempdir().unwrap();
        let mut record = float_record(0, 4, &[1]);
        record.slices = vec![vec![]];
        let prefix = hand_made(
            folder.path(),
            &single_shard_header(),
            &[("part", record)],
            &[0; 4],
        );
        let error = TfCheckpoint::open(&prefix).unwrap_err().to_string();
        assert!(
            error.contains("entry \"part\": is a slice of a partitioned variable"),
            "{error}"
        );
    }

    #[test]
    fn headers_of_other_layouts_and_versions_are_refused() {
        let folder = tempfile::tempdir().unwrap();
        let mut big_endian = single_shard_header();
        big_endian.endianness = 1;
        let mut too_new = single_shard_header();
        too_new.version.as_mut().unwrap().min_consumer = 2;
        let mut no_shards = single_shard_header();
        no_shards.num_shards = 0;
        for (header, expected) in [
            (big_endian, "big-endian checkpoints are not supported"),
            (too_new, "needs version 2 or later"),
            (no_shards, "at least 1 data shard, found 0"),
        ] {
            let prefix = hand_made(folder.path(), &header, &[], &[]);
            let error = TfCheckpoint::open(&prefix).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn entries_outside_their_shard_or_size_are_refused_when_read() {
        let folder = tempfile::tempdir().unwrap();
        let mut wrong_shard = float_record(0, 4, &[1]);
        wrong_shard.shard_id = 1;
        let prefix = hand_made(
            folder.path(),
            &single_shard_header(),
            &[("w", wrong_shard)],
            &[0; 4],
        );
        let error = TfCheckpoint::open(&prefix).unwrap_err().to_string();
        assert!(
            error.contains("entry \"w\": names data shard 1, but there are 1"),
            "{error}"
        );

        let short = float_record(0, 8, &[3]);
        let prefix = hand_made(
            folder.path(),
            &single_shard_header(),
            &[("w", short)],
            &[0; 8],
        );
        let checkpoint = TfCheckpoint::open(&prefix).unwrap();
        let error = checkpoint.read_tensor("w").unwrap_err().to_string();
        assert!(
            error.contains("holds 8 bytes, but 3 float32 values of shape [3] need 12"),
            "{error}"
        );
    }

    #[test]
    fn unsupported_types_are_listed_but_not_converted() {
        let folder = tempfile::tempdir().unwrap();
        let mut strings = float_record(0, 5, &[]);
        strings.dtype = 7;
        strings.crc32c = mask(b"hello");
        let prefix = hand_made(
            folder.path(),
            &single_shard_header(),
            &[("words", strings)],
            b"hello",
        );
        let checkpoint = TfCheckpoint::open(&prefix).unwrap();
        assert_eq!(checkpoint.entries()[0].dtype.to_string(), "DT_STRING");
        assert_eq!(checkpoint.read_bytes("words").unwrap(), b"hello");
        let error = checkpoint.read_tensor("words").unwrap_err().to_string();
        assert!(
            error.contains("tensor \"words\" holds DT_STRING values"),
            "{error}"
        );
    }

    fn mask(bytes: &[u8]) -> u32 {
        super::super::table::mask_crc(crc32c::crc32c(bytes))
    }
}
