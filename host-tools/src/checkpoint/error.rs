//! The one error type of checkpoint reading and writing. Every variant names the file and the
//! byte, tensor or entry at fault and what was expected there; nothing here decides what to do
//! about an error.

use std::path::PathBuf;

use open_nsynth::atomic::AtomicWriteError;

/// What went wrong with a checkpoint file, and where.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {action}: {cause}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        cause: std::io::Error,
    },
    #[error("{}: byte {offset}: expected {expected}", path.display())]
    Malformed {
        path: PathBuf,
        offset: u64,
        expected: String,
    },
    #[error(
        "{}: block at byte {offset}: checksum mismatch (stored {stored:#010x}, computed \
         {computed:#010x}); the file is corrupt",
        path.display()
    )]
    BlockChecksum {
        path: PathBuf,
        offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error(
        "{}: block at byte {offset} is Snappy-compressed, which is not supported; re-save the \
         checkpoint uncompressed (TensorFlow 1.2 and later always do)",
        path.display()
    )]
    Compressed { path: PathBuf, offset: u64 },
    #[error("{}: byte {offset}: entry {name:?}: {problem}", path.display())]
    Entry {
        path: PathBuf,
        offset: u64,
        name: String,
        problem: String,
    },
    #[error(
        "{}: tensor {name:?} at bytes {offset}..{}: checksum mismatch (expected \
         {expected:#010x}, found {found:#010x}); the data file is corrupt or belongs to another \
         index",
        path.display(),
        offset + size
    )]
    TensorChecksum {
        path: PathBuf,
        name: String,
        offset: u64,
        size: u64,
        expected: u32,
        found: u32,
    },
    #[error(
        "{}: tensor {name:?} needs bytes {offset}..{} but the file has only {file_len} bytes; \
         the file is truncated",
        path.display(),
        offset + size
    )]
    Truncated {
        path: PathBuf,
        name: String,
        offset: u64,
        size: u64,
        file_len: u64,
    },
    #[error("{}: tensor {name:?} holds {dtype} values, which cannot be converted", path.display())]
    UnsupportedDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    #[error("{}: no tensor named {name:?}", path.display())]
    NotFound { path: PathBuf, name: String },
    #[error("{}: tensor {name:?}: {problem}", path.display())]
    Tensor {
        path: PathBuf,
        name: String,
        problem: String,
    },
    #[error("{}: {cause}", path.display())]
    Safetensors {
        path: PathBuf,
        cause: safetensors::SafeTensorError,
    },
}

/// A failed write of a checkpoint file is an I/O error at the file and step it names.
impl From<AtomicWriteError> for CheckpointError {
    fn from(error: AtomicWriteError) -> Self {
        CheckpointError::Io {
            path: error.path,
            action: error.action,
            cause: error.cause,
        }
    }
}
