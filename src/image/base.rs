//! The base image: a Raspberry Pi OS download, raw (`.img`) or xz-compressed (`.img.xz`),
//! recognised by its first bytes rather than its name, and unpacked into the output's partial
//! file. Other compressions and cut-short downloads are refused saying what was found. It never
//! writes anything but the output it is given.

use std::fs::File;
use std::io::{self, Read, Seek as _, Write};
use std::path::Path;

use super::ImageError;
use crate::atomic::AtomicFile;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Raw,
    Xz,
    Other(&'static str),
}

/// The format of a file starting with `head`.
pub(super) fn format_of(head: &[u8]) -> Format {
    const KNOWN: [(&[u8], &str); 5] = [
        (&[0x1f, 0x8b], "gzip"),
        (b"PK\x03\x04", "zip"),
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
        (b"BZh", "bzip2"),
        (b"7z\xbc\xaf\x27\x1c", "7-zip"),
    ];
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Format::Xz;
    }
    match KNOWN.iter().find(|(magic, _)| head.starts_with(magic)) {
        Some((_, name)) => Format::Other(name),
        None => Format::Raw,
    }
}

/// Unpacks (or copies) the base image at `path` into `out`.
pub(super) fn unpack(path: &Path, out: &mut AtomicFile) -> Result<(), ImageError> {
    let read_error = |cause: io::Error| ImageError::Io {
        action: "read",
        path: path.to_path_buf(),
        cause,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut head = Vec::with_capacity(6);
    (&mut file)
        .take(6)
        .read_to_end(&mut head)
        .and_then(|_| file.rewind())
        .map_err(read_error)?;
    match format_of(&head) {
        Format::Raw => copy(file, out, path, read_error),
        Format::Xz => copy(
            liblzma::read::XzDecoder::new_multi_decoder(file),
            out,
            path,
            |cause| ImageError::Base {
                path: path.to_path_buf(),
                problem: format!(
                    "its xz data is damaged or cut short (an interrupted download?): {cause}"
                ),
            },
        ),
        Format::Other(name) => Err(ImageError::Base {
            path: path.to_path_buf(),
            problem: format!(
                "it is compressed with {name}; unpack it first, or give the .img or .img.xz \
                 that Raspberry Pi publishes"
            ),
        }),
    }
}

fn copy(
    mut from: impl Read,
    out: &mut AtomicFile,
    path: &Path,
    read_error: impl Fn(io::Error) -> ImageError,
) -> Result<(), ImageError> {
    let mut block = vec![0; 1 << 20];
    loop {
        let n = match from.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(read_error(error)),
        };
        out.write_all(&block[..n]).map_err(|cause| ImageError::Io {
            action: "write",
            path: out.partial_path().to_path_buf(),
            cause,
        })?;
    }
    if out.position() == 0 {
        return Err(ImageError::Base {
            path: path.to_path_buf(),
            problem: "it is empty".to_owned(),
        });
    }
    out.flush().map_err(|cause| ImageError::Io {
        action: "write",
        path: out.partial_path().to_path_buf(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_first_bytes() {
        assert_eq!(format_of(&[0xfd, b'7', b'z', b'X', b'Z', 0]), Format::Xz);
        assert_eq!(format_of(&[0x1f, 0x8b, 8, 0]), Format::Other("gzip"));
        assert_eq!(format_of(b"PK\x03\x04rest"), Format::Other("zip"));
        assert_eq!(
            format_of(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Format::Other("zstd")
        );
        assert_eq!(format_of(&[0xfa, 0xb8, 0, 0x10]), Format::Raw);
        assert_eq!(format_of(&[]), Format::Raw);
    }
}
