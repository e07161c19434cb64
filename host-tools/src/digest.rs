//! SHA-256 digests written `sha256:<hex>`: how provenance records name the bytes of a recording,
//! an embedding file or a checkpoint's index. Files are read in pieces, never whole; nothing here
//! writes or decides what a digest means.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// Bytes read at a time.
const CHUNK: usize = 1 << 16;

/// A digest being computed.
#[derive(Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Adds a string and its length, so that consecutive strings cannot run into each other.
    pub fn update_str(&mut self, text: &str) {
        self.update(&(text.len() as u64).to_le_bytes());
        self.update(text.as_bytes());
    }

    /// The digest, `sha256:` and 64 lower-case hex digits.
    pub fn finish(self) -> String {
        let mut text = String::from("sha256:");
        for byte in self.0.finalize() {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }
}

/// The digest of the file at `path`.
pub fn file_digest(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Hasher::default();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Ok(hasher.finish()),
            Ok(read) => hasher.update(&buffer[..read]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_digest_is_the_sha256_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        // FIPS 180-2's first example.
        assert_eq!(
            file_digest(&path).unwrap(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut pieces = Hasher::default();
        pieces.update(b"ab");
        pieces.update(b"c");
        assert_eq!(pieces.finish(), file_digest(&path).unwrap());
    }

    #[test]
    fn strings_are_delimited() {
        let digest = |parts: &[&str]| {
            let mut hasher = Hasher::default();
            for part in parts {
                hasher.update_str(part);
            }
            hasher.finish()
        };
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    }
}
