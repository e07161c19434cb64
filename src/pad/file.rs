//! A pad file on disk, memory-mapped and checked against the layout before anything reads it.
//! Only the loader thread reads through it; the audio thread never sees a mapping.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap};

use super::{PadLayout, BYTES_PER_SAMPLE};

#[derive(Debug, thiserror::Error)]
pub enum PadError {
    #[error("cannot open pad {path}: {cause}")]
    Open {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "pad {path} is {found} bytes but the settings (resolution {resolution}, {pitches} pitches, \
         length {length}) need exactly {expected} bytes; the pad was made for other settings or is \
         truncated"
    )]
    Size {
        path: PathBuf,
        expected: u64,
        found: u64,
        resolution: usize,
        pitches: usize,
        length: usize,
    },
    #[error("pad {path} shrank to {found} bytes while in use (expected {expected})")]
    Shrunk {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
}

/// Somewhere the loader can read a grid point's rows from. Reads may be slow (an SD card);
/// only the loader thread calls them.
pub trait PadSource: Send {
    /// Copies every pitch row of grid point `point` into `dst` (`pitches × length` samples).
    fn read_point(&self, point: usize, dst: &mut [i16]) -> Result<(), PadError>;
}

/// A pad file mapped read-only.
#[derive(Debug)]
pub struct PadFile {
    path: PathBuf,
    file: File,
    map: Mmap,
    layout: PadLayout,
}

impl PadFile {
    /// Opens and maps `path`, refusing a file whose size does not match `layout`.
    pub fn open(path: &Path, layout: &PadLayout) -> Result<Self, PadError> {
        let open_error = |cause| PadError::Open {
            path: path.to_path_buf(),
            cause,
        };
        let file = File::open(path).map_err(open_error)?;
        let found = file.metadata().map_err(open_error)?.len();
        let expected = layout.file_bytes();
        if found != expected {
            return Err(PadError::Size {
                path: path.to_path_buf(),
                expected,
                found,
                resolution: layout.resolution,
                pitches: layout.pitches.len(),
                length: layout.length,
            });
        }
        // SAFETY: the mapping is read-only and only read through `read_point`, which re-checks
        // the file size first, so a file truncated later is reported instead of faulting.
        let map = unsafe { Mmap::map(&file) }.map_err(open_error)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            map,
            layout: layout.clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl PadSource for PadFile {
    fn read_point(&self, point: usize, dst: &mut [i16]) -> Result<(), PadError> {
        let expected = self.layout.file_bytes();
        let found = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        if found < expected {
            return Err(PadError::Shrunk {
                path: self.path.clone(),
                expected,
                found,
            });
        }
        let bytes = self.layout.point_samples() * BYTES_PER_SAMPLE as usize;
        let start = point * bytes;
        // A hint only: the copy below faults the pages in on this thread either way.
        let _ = self.map.advise_range(Advice::WillNeed, start, bytes);
        let src = &self.map[start..start + bytes];
        for (sample, pair) in dst.iter_mut().zip(src.chunks_exact(2)) {
            *sample = i16::from_le_bytes([pair[0], pair[1]]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> PadLayout {
        PadLayout {
            resolution: 2,
            pitches: vec![60, 64],
            length: 3,
        }
    }

    #[test]
    fn reads_a_points_rows_as_little_endian_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a_b_c_d.bin");
        let samples: Vec<i16> = (0..24).map(|i| i * 1000 - 12000).collect();
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        std::fs::write(&path, bytes).unwrap();
        let pad = PadFile::open(&path, &layout()).unwrap();
        let mut dst = [0i16; 6];
        pad.read_point(3, &mut dst).unwrap();
        assert_eq!(dst, samples[18..24]);
    }

    #[test]
    fn a_pad_of_the_wrong_size_names_both_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.bin");
        std::fs::write(&path, [0u8; 40]).unwrap();
        let message = PadFile::open(&path, &layout()).unwrap_err().to_string();
        assert!(message.contains("short.bin"), "{message}");
        assert!(
            message.contains("is 40 bytes") && message.contains("exactly 48 bytes"),
            "{message}"
        );
    }

    #[test]
    fn a_pad_truncated_after_opening_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.bin");
        std::fs::write(&path, [0u8; 48]).unwrap();
        let pad = PadFile::open(&path, &layout()).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(10)
            .unwrap();
        let error = pad.read_point(3, &mut [0; 6]).unwrap_err();
        assert!(
            matches!(error, PadError::Shrunk { found: 10, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_missing_pad_names_the_file() {
        let message = PadFile::open(Path::new("/nowhere/x.bin"), &layout())
            .unwrap_err()
            .to_string();
        assert!(message.contains("/nowhere/x.bin"), "{message}");
    }
}
