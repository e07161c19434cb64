//! Every size a user, a file or a script can ask for, bounded in one place: the limits, why each
//! is where it is, and the one bounded file read that enforces the file-size limits. The limits
//! sit well above anything real (the README lists them), so they only ever stop a typo or a
//! damaged file from filling the memory or the disk. This module never decides what a file means.

use std::io::Read as _;
use std::path::Path;

/// A settings file: the original's is 1.3 kB, and one corner list of a thousand instruments is
/// still under 100 kB.
pub const SETTINGS_FILE_BYTES: u64 = 1 << 20;
/// A patch file: four patches are under 1 kB.
pub const PATCH_FILE_BYTES: u64 = 64 << 10;
/// A learned MIDI map: twelve controls are under 300 bytes.
pub const LEARNED_MAP_BYTES: u64 = 64 << 10;
/// A board file: the built-in ones are under 2 kB.
pub const BOARD_FILE_BYTES: u64 = 64 << 10;
/// A simulator script: 16 MiB is a hundred thousand events.
pub const SCRIPT_FILE_BYTES: u64 = 16 << 20;
/// A Standard MIDI File: a dense hour-long orchestral file is a few megabytes.
pub const MIDI_FILE_BYTES: u64 = 64 << 20;

/// The longest song `render` and `play` accept, and the latest time a simulator script may use.
pub const SONG_SECONDS: f64 = 24.0 * 3600.0;
/// The longest release tail `--tail` may ask for after a song's last event.
pub const TAIL_SECONDS: f32 = 60.0;

/// Memory a pad may take on the device: half of the smallest supported board's 512 MiB (the
/// Raspberry Pi Zero 2 W), leaving the rest to the system. Pads are mapped from the card, so
/// this bounds what the loader can be asked to make resident, not only what fits on a card.
pub const PAD_BYTES: u64 = 256 << 20;
/// The shortest row the demo writes: shorter rows loop audibly within one note.
pub const DEMO_MIN_ROW: usize = 1024;

/// Reads all of `path`, refusing a file over `limit` bytes before reading it (and a file that
/// grows past the limit while it is read) with an `InvalidData` error that says so.
pub fn read_file(path: &Path, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let too_large = |size: u64| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{size} bytes is more than any {what} (at most {limit} bytes are read): is this \
                 the right file?"
            ),
        )
    };
    let size = file.metadata()?.len();
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read_file`] for a text file: the bytes must be UTF-8.
pub fn read_text(path: &Path, limit: u64, what: &str) -> std::io::Result<String> {
    String::from_utf8(read_file(path, limit, what)?).map_err(|error| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text: invalid byte at offset {}",
                error.utf8_error().valid_up_to()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_limit_are_refused_before_they_are_read() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("settings.json");
        std::fs::write(&path, vec![b' '; 101]).unwrap();
        let error = read_file(&path, 100, "settings file").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        let message = error.to_string();
        assert!(
            message.contains("101 bytes") && message.contains("at most 100"),
            "{message}"
        );
        assert_eq!(read_file(&path, 101, "settings file").unwrap().len(), 101);
    }

    #[test]
    fn text_must_be_utf8_and_the_offset_is_named() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("script.txt");
        std::fs::write(&path, b"0.5 quit\n\xff").unwrap();
        let message = read_text(&path, 100, "script").unwrap_err().to_string();
        assert!(message.contains("offset 9"), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn endless_files_stop_at_the_limit() {
        // A character device reports size 0 and never ends.
        let error = read_file(Path::new("/dev/zero"), 1000, "MIDI file").unwrap_err();
        assert!(error.to_string().contains("1001 bytes"), "{error}");
    }
}
