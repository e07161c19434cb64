//! Reader and writer of safetensors files (an 8-byte header length, a JSON header naming each
//! tensor's type, shape and byte range, then the bytes). The header is parsed and laid out by
//! the `safetensors` crate; tensor bytes are read on demand with positioned reads and written
//! one tensor at a time, so neither side ever holds the whole file in memory.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Metadata, TensorInfo};

use super::{position, CheckpointError, DType, EntryInfo, TensorFile};
use open_nsynth::atomic::AtomicFile;

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
            move |cause| CheckpointError::Io {
                path: path.to_owned(),
                action,
                cause,
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
        let header_room = MAX_HEADER_LEN.min(file_len - HEADER_LEN_BYTES);
        if header_len > header_room {
            return Err(malformed(
                0,
                format!(
                    "a header length of at most {header_room} bytes (the file's size less 8), \
                     found {header_len}"
                ),
            ));
        }
        let data_start = HEADER_LEN_BYTES + header_len;
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
        let data_end = data_start.saturating_add(metadata.data_len() as u64);
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
            .map_err(|cause| CheckpointError::Io {
                path: self.path.clone(),
                action: "reading tensor bytes",
                cause,
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
    let failed = |cause| CheckpointError::Safetensors {
        path: path.to_owned(),
        cause,
    };
    let metadata = Metadata::new(None, layout).map_err(failed)?;
    let mut header = serde_json::to_vec(&metadata).map_err(|error| failed(error.into()))?;
    // The format aligns tensor bytes to 8 by padding the header with spaces.
    header.resize(header.len().next_multiple_of(8), b' ');

    let mut file = AtomicFile::create(path)?;
    file.append(&(header.len() as u64).to_le_bytes())?;
    file.append(&header)?;
    for (_, entry) in selected {
        let bytes = source.read_bytes(&entry.name)?;
        entry.check_size(source.path(), bytes.len() as u64)?;
        file.append(&bytes)?;
    }
    Ok(file.commit()?)
}

#[cfg(test)]
mod tests {
    use safetensors::tensor::TensorView;
    use safetensors::{Dtype, SafeTensors};

    use super::*;
    use crate::checkpoint::memory::sample;
    use crate::tensor::TensorSource;

    fn written(folder: &Path) -> PathBuf {
        let path = folder.join("weights.safetensors");
        write_safetensors(&path, &sample(), |_| true).unwrap();
        path
    }

    #[test]
    fn a_written_file_reads_back_here_and_in_the_safetensors_crate() {
        let folder = tempfile::tempdir().unwrap();
        let path = written(folder.path());
        let source = sample();
        let file = SafetensorsFile::open(&path).unwrap();
        assert_eq!(file.entries(), source.entries());
        for name in source.names() {
            assert_eq!(
                file.read_bytes(&name).unwrap(),
                source.read_bytes(&name).unwrap()
            );
            assert_eq!(file.tensor(&name).unwrap(), source.tensor(&name).unwrap());
        }
        let bytes = std::fs::read(&path).unwrap();
        let theirs = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(theirs.len(), source.entries().len());
        let step = theirs.tensor("global_step").unwrap();
        assert_eq!((step.dtype(), step.shape()), (Dtype::I32, &[][..]));
        assert_eq!(step.data(), 200_000i32.to_le_bytes());
        let kernel = theirs.tensor("dilatedconv_1/W").unwrap();
        assert_eq!(kernel.data(), source.read_bytes("dilatedconv_1/W").unwrap());
    }

    /// A file as the `safetensors` crate writes it.
    fn theirs(folder: &Path, dtype: Dtype, shape: Vec<usize>, bytes: &[u8]) -> PathBuf {
        let path = folder.join("theirs.safetensors");
        let view = TensorView::new(dtype, shape, bytes).unwrap();
        let file = safetensors::serialize([("x", view)], None).unwrap();
        std::fs::write(&path, file).unwrap();
        path
    }

    #[test]
    fn half_precision_files_of_the_safetensors_crate_read_as_f32() {
        let folder = tempfile::tempdir().unwrap();
        let halves: Vec<u8> = [0x3c00u16, 0xb800]
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect();
        let path = theirs(folder.path(), Dtype::F16, vec![1, 2], &halves);
        let file = SafetensorsFile::open(&path).unwrap();
        assert_eq!(file.tensor("x").unwrap().data, [1.0, -0.5]);
        let brains: Vec<u8> = [0x3f80u16, 0x4040]
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect();
        let path = theirs(folder.path(), Dtype::BF16, vec![2], &brains);
        let file = SafetensorsFile::open(&path).unwrap();
        assert_eq!(file.tensor("x").unwrap().data, [1.0, 3.0]);
    }

    #[test]
    fn eight_bit_floats_are_listed_but_not_converted() {
        let folder = tempfile::tempdir().unwrap();
        let path = theirs(folder.path(), Dtype::F8_E4M3, vec![2], &[1, 2]);
        let file = SafetensorsFile::open(&path).unwrap();
        assert_eq!(file.entries()[0].dtype.to_string(), "F8_E4M3");
        let error = file.tensor("x").unwrap_err().to_string();
        assert!(
            error.contains("tensor \"x\" holds F8_E4M3 values, which cannot be converted"),
            "{error}"
        );
        let copy = folder.path().join("copy.safetensors");
        let error = write_safetensors(&copy, &file, |_| true)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("holds F8_E4M3 values, which safetensors files cannot store"),
            "{error}"
        );
        assert!(!copy.exists());
    }

    #[test]
    fn truncated_files_and_bad_headers_are_refused_with_their_offset() {
        let folder = tempfile::tempdir().unwrap();
        let path = written(folder.path());
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        let data_len = bytes.len() as u64 - 8 - header_len;
        let broken = folder.path().join("broken.safetensors");
        let error_of = |bytes: &[u8]| {
            std::fs::write(&broken, bytes).unwrap();
            SafetensorsFile::open(&broken).unwrap_err().to_string()
        };

        let error = error_of(&bytes[..bytes.len() - 1]);
        assert!(
            error.contains(&format!(
                "byte {}: expected {data_len} bytes of tensors after the header, ending the file, \
                 but the file has {} bytes",
                bytes.len() - 1,
                bytes.len() - 1
            )),
            "{error}"
        );
        let error = error_of(&bytes[..5]);
        assert!(
            error.contains("byte 0: expected an 8-byte header length, found a file of 5 bytes"),
            "{error}"
        );
        let mut garbled = bytes.clone();
        garbled[8] = b'[';
        let error = error_of(&garbled);
        assert!(
            error.contains("byte 8: expected a JSON header naming each tensor"),
            "{error}"
        );
        let mut too_long = bytes.clone();
        too_long[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let error = error_of(&too_long);
        assert!(
            error.contains("byte 0: expected a header length of at most"),
            "{error}"
        );
    }
}
