//! NumPy `.npy` files of embeddings and other `f32` arrays (spec §5): reads `[frames, 16]`
//! embeddings (also the `[1, frames, 16]` the original pipeline wrote by mistake, with a warning)
//! and writes C-order little-endian `float32` arrays atomically. It never guesses at other shapes:
//! anything else is an error naming the file and the shape found.

use std::fs::File;
use std::io::{self, BufReader, Read as _};
use std::path::{Path, PathBuf};

use npyz::{DType, Order, TypeChar, WriterBuilder};

use crate::embedding::{Embedding, CHANNELS};
use open_nsynth::atomic::write_atomically;

/// The magic string every `.npy` file starts with.
const MAGIC: &[u8] = b"\x93NUMPY";
/// The longest header read: `np.load`'s own limit (`max_header_size`), far above the 118 bytes of
/// an embedding's header.
const MAX_HEADER_BYTES: u64 = 10_000;
/// The deepest brackets read in a header: a plain array's header, an embedding's included, nests 2
/// deep (the dictionary and the shape). npyz's header parser backtracks, in time exponential in
/// the depth (20 levels take minutes).
const MAX_HEADER_NESTING: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: io::Error },
    #[error("{path} is not a NumPy .npy file: {cause}")]
    Format { path: PathBuf, cause: io::Error },
    #[error("{path} holds `{dtype}` values; an embedding must hold float32 (`<f4`) values")]
    DType { path: PathBuf, dtype: String },
    #[error(
        "{path} has shape {found:?}, expected [frames, 16] with at least one frame \
         (or [1, frames, 16] as the original pipeline wrote)"
    )]
    Shape { path: PathBuf, found: Vec<u64> },
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: io::Error },
}

/// Reads an embedding file. A leading axis of 1 (`[1, frames, 16]`, written by the original
/// pipeline's step 02 for Magenta's 2017 loader) is dropped with a warning; `float64` files are
/// narrowed to `float32`.
pub fn read_embedding(path: &Path) -> Result<Embedding, NpyError> {
    let file = File::open(path).map_err(|cause| NpyError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    read_embedding_from(BufReader::new(file), path)
}

/// Reads an embedding as [`read_embedding`] does, from `reader`, the contents of `path` (which
/// errors name).
pub fn read_embedding_from(reader: impl io::Read, path: &Path) -> Result<Embedding, NpyError> {
    let format_error = |cause| NpyError::Format {
        path: path.to_path_buf(),
        cause,
    };
    let npy =
        npyz::NpyFile::new(header_checked(reader).map_err(format_error)?).map_err(format_error)?;
    let shape = npy.shape().to_vec();
    let frames = match shape.as_slice() {
        [frames, channels] if *channels == CHANNELS as u64 && *frames > 0 => *frames,
        [1, frames, channels] if *channels == CHANNELS as u64 && *frames > 0 => {
            tracing::warn!(
                "{}: shape {shape:?} has the extra leading axis of the original pipeline; \
                 reading it as [{frames}, {CHANNELS}]",
                path.display()
            );
            *frames
        }
        _ => {
            return Err(NpyError::Shape {
                path: path.to_path_buf(),
                found: shape,
            })
        }
    };
    let order = npy.order();
    let values = match npy.dtype() {
        DType::Plain(kind) if kind.type_char() == TypeChar::Float && kind.size_field() == 4 => {
            npy.into_vec::<f32>().map_err(format_error)?
        }
        DType::Plain(kind) if kind.type_char() == TypeChar::Float && kind.size_field() == 8 => npy
            .into_vec::<f64>()
            .map_err(format_error)?
            .into_iter()
            .map(|value| value as f32)
            .collect(),
        other => {
            return Err(NpyError::DType {
                path: path.to_path_buf(),
                dtype: other.descr(),
            })
        }
    };
    let values = match order {
        Order::C => values,
        Order::Fortran => from_column_major(&values, frames as usize),
    };
    Embedding::new(values).ok_or_else(|| NpyError::Shape {
        path: path.to_path_buf(),
        found: shape,
    })
}

/// `reader` as it was, once its header is checked for what would make npyz allocate, hang or
/// panic: a length beyond NumPy's own limit (npyz allocates whatever length a file claims),
/// brackets nested deeper than [`MAX_HEADER_NESTING`], and a shape whose element count overflows
/// a `u64` (npyz multiplies it out unchecked). Everything else, `.npy` or not, npyz reads or
/// reports.
fn header_checked(mut reader: impl io::Read) -> io::Result<impl io::Read> {
    let mut head = Vec::new();
    // Magic, major and minor version; then the header length: 2 bytes in version 1, 4 after.
    (&mut reader).take(8).read_to_end(&mut head)?;
    let length_bytes = match head.get(6) {
        Some(1) => 2,
        Some(2 | 3) => 4,
        _ => 0,
    };
    (&mut reader).take(length_bytes).read_to_end(&mut head)?;
    if head.starts_with(MAGIC) && head.len() == 8 + length_bytes as usize {
        let length = head[8..]
            .iter()
            .rev()
            .fold(0, |length, &byte| length << 8 | u64::from(byte));
        if length > MAX_HEADER_BYTES {
            return Err(invalid_header(format!(
                "its header claims {length} bytes; NumPy reads at most {MAX_HEADER_BYTES}"
            )));
        }
        let start = head.len();
        (&mut reader).take(length).read_to_end(&mut head)?;
        check_header_text(&head[start..])?;
    }
    Ok(io::Cursor::new(head).chain(reader))
}

/// The nesting and shape checks of [`header_checked`], on the header's text.
fn check_header_text(text: &[u8]) -> io::Result<()> {
    let mut depth = 0usize;
    let mut deepest = 0;
    for byte in text {
        match byte {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        deepest = deepest.max(depth);
    }
    if deepest > MAX_HEADER_NESTING {
        return Err(invalid_header(format!(
            "its header nests brackets {deepest} deep; a plain array's nests 2"
        )));
    }
    let header = std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.trim_end().parse::<py_literal::Value>().ok());
    let Some(py_literal::Value::Dict(entries)) = header else {
        return Ok(());
    };
    let shapes = entries.iter().filter_map(|(key, value)| match value {
        py_literal::Value::Tuple(dims) | py_literal::Value::List(dims)
            if key.as_string().is_some_and(|key| key == "shape") =>
        {
            Some(dims)
        }
        _ => None,
    });
    for dims in shapes {
        // Dimensions that are no u64 at all are npyz's to report.
        let count = dims
            .iter()
            .filter_map(|dim| match dim {
                py_literal::Value::Integer(dim) => u64::try_from(dim).ok(),
                _ => None,
            })
            .try_fold(1u64, u64::checked_mul);
        if count.is_none() {
            return Err(invalid_header(
                "its shape has more elements than a 64-bit count holds",
            ));
        }
    }
    Ok(())
}

fn invalid_header(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reorders `[frames, 16]` values stored column-major (NumPy's `fortran_order`) into rows.
fn from_column_major(values: &[f32], frames: usize) -> Vec<f32> {
    (0..frames * CHANNELS)
        .map(|i| values[(i % CHANNELS) * frames + i / CHANNELS])
        .collect()
}

/// Writes an embedding as `[frames, 16]` float32, the layout current Magenta reads.
pub fn write_embedding(path: &Path, embedding: &Embedding) -> Result<(), NpyError> {
    write_f32_array(path, &[embedding.frames(), CHANNELS], embedding.values())
}

/// Writes `values` as a C-order `<f4` array of `shape` (what `np.save` writes for a float32
/// array). `values.len()` must equal the product of `shape`.
pub fn write_f32_array(path: &Path, shape: &[usize], values: &[f32]) -> Result<(), NpyError> {
    let shape: Vec<u64> = shape.iter().map(|&n| n as u64).collect();
    if shape.iter().product::<u64>() != values.len() as u64 {
        return Err(NpyError::Write {
            path: path.to_path_buf(),
            cause: io::Error::other(format!(
                "{} values do not fill shape {shape:?}",
                values.len()
            )),
        });
    }
    write_atomically::<io::Error, _>(path, |w| {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(w)
            .begin_nd()?;
        writer.extend(values.iter().copied())?;
        writer.finish()
    })
    .map_err(|cause| NpyError::Write {
        path: path.to_path_buf(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::sync::{Arc, Mutex};

    /// A v1.0 `.npy` file as NumPy writes it: magic, version, header padded to 64 bytes, data.
    fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        with_header(header, data)
    }

    /// A v1.0 `.npy` file of any header text.
    fn with_header(mut header: String, data: &[u8]) -> Vec<u8> {
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn ramp(count: usize) -> Vec<f32> {
        (0..count).map(|i| i as f32 * 0.5 - 3.0).collect()
    }

    #[test]
    fn an_embedding_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        let embedding = Embedding::new(ramp(125 * 16)).unwrap();
        write_embedding(&path, &embedding).unwrap();
        assert_eq!(read_embedding(&path).unwrap(), embedding);
        // What NumPy would see: a float32 C-order [125, 16] array.
        let bytes = std::fs::read(&path).unwrap();
        let header = String::from_utf8_lossy(&bytes[10..128]);
        assert!(header.contains("'descr': '<f4'"), "{header}");
        assert!(header.contains("'fortran_order': False"), "{header}");
        assert!(header.contains("'shape': (125, 16"), "{header}");
    }

    #[test]
    fn numpys_own_layout_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("numpy.npy");
        let values = ramp(32);
        std::fs::write(
            &path,
            npy_bytes("<f4", false, "(2, 16)", &f32_bytes(&values)),
        )
        .unwrap();
        assert_eq!(read_embedding(&path).unwrap().values(), values);
    }

    #[test]
    fn version_2_headers_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.npy");
        let v1 = npy_bytes("<f4", false, "(1, 16)", &f32_bytes(&ramp(16)));
        // The same header text after a 4-byte length, padded again to a multiple of 64.
        let mut text = String::from_utf8(v1[10..v1.len() - 64].to_vec()).unwrap();
        text.truncate(text.trim_end().len());
        while !(12 + text.len() + 1).is_multiple_of(64) {
            text.push(' ');
        }
        text.push('\n');
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&(text.len() as u32).to_le_bytes());
        v2.extend_from_slice(text.as_bytes());
        v2.extend_from_slice(&f32_bytes(&ramp(16)));
        std::fs::write(&path, v2).unwrap();
        assert_eq!(read_embedding(&path).unwrap().values(), ramp(16));
    }

    /// Found by the `npy` fuzz target: npyz allocated the 4 GB the header length claimed.
    #[test]
    fn a_header_longer_than_numpy_reads_is_refused_before_it_is_read() {
        let found = b"\x93NUMPY\x03\x00t\x00\xff\xff\xff\xff\xff\xff\xff\x0dr': '<f4', 'fortran_or\
              d'<f8', 'fov, 'fortran}                  @\xc1\x00\x00P\xc1\x00\x00`\xc1\x00\
              \x00p\xc1";
        let error = read_embedding_from(&found[..], Path::new("e.npy")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("claims 4294901876 bytes; NumPy reads at most 10000"),
            "{message}"
        );
    }

    /// npyz's header parser backtracks: 20 nested lists took 100 s, each level doubling it.
    #[test]
    fn deeply_nested_headers_are_refused_before_they_are_parsed() {
        let nested = format!("{}{}", "[".repeat(30), "]".repeat(30));
        let bytes = npy_bytes("<f4", false, &format!("(1, 16), 'x': {nested}"), &[0; 64]);
        let message = read_embedding_from(&bytes[..], Path::new("e.npy"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("nests brackets 31 deep"), "{message}");
        // A structured array's header nests deeper than a plain one's.
        let record = with_header(
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 16), }".into(),
            &[0; 128],
        );
        let message = read_embedding_from(&record[..], Path::new("e.npy"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("nests brackets 3 deep"), "{message}");
    }

    /// npyz multiplies the shape out unchecked, which panics where overflow checks are on.
    #[test]
    fn a_shape_of_more_elements_than_a_u64_counts_is_refused() {
        let bytes = npy_bytes("<f4", false, "(4294967296, 4294967296, 16)", &[0; 64]);
        let message = read_embedding_from(&bytes[..], Path::new("e.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("more elements than a 64-bit count"),
            "{message}"
        );
        let huge = npy_bytes("<f4", false, "(4294967296, 16)", &[0; 64]);
        let message = read_embedding_from(&huge[..], Path::new("e.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("not a NumPy .npy file"),
            "a short file: {message}"
        );
    }

    /// A writer that keeps what the log subscriber prints, for asserting on warnings.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_original_pipelines_leading_axis_is_dropped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brass_1.0_pitch_24.npy");
        let values = ramp(3 * 16);
        std::fs::write(
            &path,
            npy_bytes("<f4", false, "(1, 3, 16)", &f32_bytes(&values)),
        )
        .unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let embedding =
            tracing::subscriber::with_default(subscriber, || read_embedding(&path).unwrap());
        assert_eq!(embedding.frames(), 3);
        assert_eq!(embedding.values(), values);
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("WARN"), "{log}");
        assert!(log.contains("brass_1.0_pitch_24.npy"), "{log}");
        assert!(log.contains("[1, 3, 16]"), "{log}");
    }

    #[test]
    fn other_shapes_are_refused_naming_file_and_shape() {
        let dir = tempfile::tempdir().unwrap();
        for (shape, count) in [("(125, 8)", 1000), ("(2, 125, 16)", 4000), ("(0, 16)", 0)] {
            let path = dir.path().join("bad.npy");
            let data = f32_bytes(&ramp(count));
            std::fs::write(&path, npy_bytes("<f4", false, shape, &data)).unwrap();
            let error = read_embedding(&path).unwrap_err();
            let message = error.to_string();
            assert!(matches!(error, NpyError::Shape { .. }), "{message}");
            assert!(message.contains("bad.npy"), "{message}");
            let found = shape.trim_matches(['(', ')']);
            assert!(message.contains(&format!("[{found}]")), "{message}");
            assert!(message.contains("expected [frames, 16]"), "{message}");
        }
    }

    #[test]
    fn integer_arrays_are_refused_and_float64_is_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ints.npy");
        std::fs::write(&path, npy_bytes("<i4", false, "(1, 16)", &[0u8; 64])).unwrap();
        let error = read_embedding(&path).unwrap_err();
        assert!(matches!(error, NpyError::DType { .. }), "{error}");
        assert!(error.to_string().contains("<i4"), "{error}");

        let path = dir.path().join("doubles.npy");
        let data: Vec<u8> = (0..16)
            .flat_map(|i| (f64::from(i) / 4.0).to_le_bytes())
            .collect();
        std::fs::write(&path, npy_bytes("<f8", false, "(1, 16)", &data)).unwrap();
        let embedding = read_embedding(&path).unwrap();
        assert_eq!(embedding.values()[5], 1.25);
    }

    #[test]
    fn column_major_files_are_reordered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fortran.npy");
        let rows = ramp(2 * 16);
        let columns: Vec<f32> = (0..32).map(|i| rows[(i % 2) * 16 + i / 2]).collect();
        std::fs::write(
            &path,
            npy_bytes("<f4", true, "(2, 16)", &f32_bytes(&columns)),
        )
        .unwrap();
        assert_eq!(read_embedding(&path).unwrap().values(), rows);
    }

    #[test]
    fn truncated_files_and_non_npy_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.npy");
        let mut bytes = npy_bytes("<f4", false, "(4, 16)", &f32_bytes(&ramp(64)));
        bytes.truncate(bytes.len() - 10);
        std::fs::write(&path, bytes).unwrap();
        let message = read_embedding(&path).unwrap_err().to_string();
        assert!(message.contains("cut.npy"), "{message}");

        let path = dir.path().join("text.npy");
        let mut file = File::create(&path).unwrap();
        writeln!(file, "hello").unwrap();
        let error = read_embedding(&path).unwrap_err();
        assert!(matches!(error, NpyError::Format { .. }), "{error}");
    }

    #[test]
    fn a_two_dimensional_array_of_any_width_can_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.npy");
        write_f32_array(&path, &[3, 1024], &vec![0.25; 3 * 1024]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let npy = npyz::NpyFile::new(bytes.as_slice()).unwrap();
        assert_eq!(npy.shape(), [3, 1024]);
        assert!(write_f32_array(&path, &[3, 1000], &[0.0; 5]).is_err());
    }
}
