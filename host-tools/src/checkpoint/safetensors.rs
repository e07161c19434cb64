//! Reader and writer of safetensors files (an 8-byte header length, a JSON header naming each
//! tensor's type, shape and byte range, then the bytes). The header is parsed and laid out by
//! the `safetensors` crate; tensor bytes are read on demand with positioned reads and written
//! one tensor at a time, so neither side ever holds the whole file in memory.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Metadata, TensorInfo};

use super::atomic::AtomicFile;
use super::{position, CheckpointError, DType, EntryInfo, TensorFile};

/// The safetensors crate's own limit, so no file it would refuse is accepted here.
const MAX_HEADER_LEN: u64 = 100_000_000;
const HEADER_LEN_BYTES: u64 = 8;

/// An open safetensors file.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    file: File,
    entries: Vec<EntryInfo>,
    /// File offset of each entry's bytes.
    offsets: Vec<u64>,
}

impl SafetensorsFile {
    /// Opens `path` and checks its header against the file's length.
    pub fn open(path: &Path) -> Result<SafetensorsFile, CheckpointError> {
        let io = |action| {
            move |source| CheckpointError::Io {
                path: path.to_owned(),
                action,
                source,
            }
        };
        let malformed = |offset, expected: String| CheckpointError::Malformed {
            path: path.to_owned(),
            offset,
            expected,
        };
        let file = File::open(path).map_err(io("opening the file"))?;
        let file_len = file
            .metadata()
            .map_err(io("reading the file's size"))?
            .len();
        let mut len_bytes = [0; HEADER_LEN_BYTES as usize];
        file.read_exact_at(&mut len_bytes, 0).map_err(|_| {
            malformed(
                0,
                format!("an 8-byte header length, found a file of {file_len} bytes"),
            )
        })?;
        let header_len = u64::from_le_bytes(len_bytes);
        let data_start = HEADER_LEN_BYTES + header_len;
        if header_len > MAX_HEADER_LEN || data_start > file_len {
            return Err(malformed(
                0,
                format!(
                    "a header length of at most {} bytes (the file's size less 8), found {header_len}",
                    MAX_HEADER_LEN.min(file_len - HEADER_LEN_BYTES)
                ),
            ));
        }
        let mut header = vec![0; header_len as usize];
        file.read_exact_at(&mut header, HEADER_LEN_BYTES)
            .map_err(io("reading the header"))?;
        let metadata: Metadata = serde_json::from_slice(&header).map_err(|error| {
            malformed(
                HEADER_LEN_BYTES,
                format!(
                    "a JSON header naming each tensor's dtype, shape and data_offsets ({error})"
                ),
            )
        })?;
        let data_end = data_start + metadata.data_len() as u64;
        if data_end != file_len {
            return Err(malformed(
                data_end.min(file_len),
                format!(
                    "{} bytes of tensors after the header, ending the file, but the file has {file_len} bytes",
                    metadata.data_len()
                ),
            ));
        }
        let mut tensors: Vec<(String, &TensorInfo)> = metadata.tensors().into_iter().collect();
        tensors.sort_unstable_by(|(left, _), (right, _)| left.cmp(right));
        let offsets = tensors
            .iter()
            .map(|(_, info)| data_start + info.data_offsets.0 as u64)
            .collect();
        let entries = tensors
            .into_iter()
            .map(|(name, info)| EntryInfo {
                name,
                dtype: DType::from_safetensors(info.dtype),
                shape: info.shape.clone(),
                size: (info.data_offsets.1 - info.data_offsets.0) as u64,
            })
            .collect();
        Ok(SafetensorsFile {
            path: path.to_owned(),
            file,
            entries,
            offsets,
        })
    }
}

impl TensorFile for SafetensorsFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }

    fn read_bytes(&self, name: &str) -> Result<Vec<u8>, CheckpointError> {
        let at = position(&self.entries, &self.path, name)?;
        let mut bytes = vec![0; self.entries[at].size as usize];
        self.file
            .read_exact_at(&mut bytes, self.offsets[at])
            .map_err(|source| CheckpointError::Io {
                path: self.path.clone(),
                action: "reading tensor bytes",
                source,
            })?;
        Ok(bytes)
    }
}

/// Writes the tensors of `source` that `keep` selects to the safetensors file `path`, keeping
/// their stored types, in the order the `safetensors` crate itself writes (widest type first,
/// then by name).
pub fn write_safetensors<S: TensorFile + ?Sized>(
    path: &Path,
    source: &S,
    keep: impl Fn(&EntryInfo) -> bool,
) -> Result<(), CheckpointError> {
    let mut selected = Vec::new();
    for entry in source.entries().iter().filter(|entry| keep(entry)) {
        let dtype = entry
            .dtype
            .safetensors()
            .ok_or_else(|| CheckpointError::Tensor {
                path: path.to_owned(),
                name: entry.name.clone(),
                problem: format!(
                    "holds {} values, which safetensors files cannot store",
                    entry.dtype
                ),
            })?;
        entry.check_size(source.path(), entry.size)?;
        selected.push((dtype, entry));
    }
    selected.sort_by(|(left_dtype, left), (right_dtype, right)| {
        right_dtype.cmp(left_dtype).then(left.name.cmp(&right.name))
    });
    let mut start = 0;
    let layout = selected
        .iter()
        .map(|&(dtype, entry)| {
            let end = start + entry.size as usize;
            let info = TensorInfo {
                dtype,
                shape: entry.shape.clone(),
                data_offsets: (start, end),
            };
            start = end;
            (entry.name.clone(), info)
        })
        .collect();
    let failed = |source| CheckpointError::Safetensors {
        path: path.to_owned(),
        source,
    };
    let metadata = Metadata::new(None, layout).map_err(failed)?;
    let mut header = serde_json::to_vec(&metadata).map_err(|error| failed(error.into()))?;
    // The format aligns tensor bytes to 8 by padding the header with spaces.
    header.resize(header.len().next_multiple_of(8), b' ');

    let mut file = AtomicFile::create(path)?;
    file.write(&(header.len() as u64).to_le_bytes())?;
    file.write(&header)?;
    for (_, entry) in selected {
        let bytes = source.read_bytes(&entry.name)?;
        entry.check_size(source.path(), bytes.len() as u64)?;
        file.write(&bytes)?;
    }
    file.commit()
}
