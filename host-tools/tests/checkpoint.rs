//! The checkpoint commands on the checkpoint real TensorFlow wrote for the fixture: every
//! tensor reads with its checksum, `inspect` finds a truncated or damaged copy and names the
//! tensor and bytes at fault, and converting it to safetensors and back gives TensorFlow's own
//! bytes again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use host_tools::checkpoint::{Checkpoint, TensorFile};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nsynth_small/model.ckpt")
}

fn host_tools(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn inspect_lists_the_tensorflow_checkpoint() {
    let output = host_tools(&["inspect".as_ref(), fixture().as_os_str()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let row = text
        .lines()
        .find(|line| line.starts_with("dilatedconv_3/W "))
        .unwrap_or_else(|| panic!("no dilatedconv_3/W in\n{text}"));
    assert!(
        row.contains("float32") && row.contains("[1, 3, 32, 64]") && row.contains("6144"),
        "{row}"
    );
    assert!(text.contains("83264"), "{text}");
}

/// Bytes of the fixture's data file: its first tensor, `ae_bottleneck/W` ([1, 1, 16, 16]
/// float32), takes the first 1024 and its last, `startconv/biases` ([32] float32), the final 128.
const DATA_LEN: usize = 333_056;

/// A copy of the fixture checkpoint in a new folder, its data file changed by `damage`; returns
/// the folder (removed when dropped) and the copy's prefix.
fn damaged_copy(damage: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    let index = "model.ckpt.index";
    std::fs::copy(fixture().with_file_name(index), folder.path().join(index)).unwrap();
    let data = "model.ckpt.data-00000-of-00001";
    let mut bytes = std::fs::read(fixture().with_file_name(data)).unwrap();
    assert_eq!(bytes.len(), DATA_LEN);
    damage(&mut bytes);
    std::fs::write(folder.path().join(data), bytes).unwrap();
    let prefix = folder.path().join("model.ckpt");
    (folder, prefix)
}

/// What `inspect` prints on stderr for `checkpoint`, which it must refuse with exit code 1.
fn inspect_error(checkpoint: &Path) -> String {
    let output = host_tools(&["inspect".as_ref(), checkpoint.as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn inspect_verifies_every_tensor_of_a_sound_checkpoint() {
    let output = host_tools(&["inspect".as_ref(), fixture().as_os_str()]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        text.lines().last(),
        Some("verified 102 tensors: every one lies inside its data file and matches its checksum"),
        "{text}"
    );
}

#[test]
fn inspect_names_the_tensor_and_bytes_a_truncated_data_file_lacks() {
    let (_folder, prefix) = damaged_copy(|data| data.truncate(DATA_LEN - 1));
    let stderr = inspect_error(&prefix);
    assert!(
        stderr.contains(&format!(
            "1 of 102 tensors fails verification: {}: tensor \"startconv/biases\" needs bytes \
             {}..{DATA_LEN} but the file has only {} bytes; the file is truncated",
            prefix.with_extension("ckpt.data-00000-of-00001").display(),
            DATA_LEN - 128,
            DATA_LEN - 1
        )),
        "{stderr}"
    );
}

#[test]
fn inspect_names_the_tensor_and_bytes_of_a_flipped_bit() {
    let (_folder, prefix) = damaged_copy(|data| data[1000] ^= 0x04);
    let stderr = inspect_error(&prefix);
    assert!(
        stderr.contains(&format!(
            "1 of 102 tensors fails verification: {}: tensor \"ae_bottleneck/W\" at bytes \
             0..1024: checksum mismatch",
            prefix.with_extension("ckpt.data-00000-of-00001").display()
        )),
        "{stderr}"
    );
}

#[test]
fn inspect_quick_lists_a_damaged_checkpoint_without_reading_its_tensors() {
    let (_folder, prefix) = damaged_copy(|data| data[1000] ^= 0x04);
    let output = host_tools(&["inspect".as_ref(), "--quick".as_ref(), prefix.as_os_str()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.lines()
            .any(|line| line.starts_with("ae_bottleneck/W ")),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .is_some_and(|line| line.starts_with("102 model variables")),
        "{text}"
    );
}

#[test]
fn inspect_checks_only_the_byte_ranges_of_a_safetensors_file() {
    let folder = tempfile::tempdir().unwrap();
    let safetensors = folder.path().join("model.safetensors");
    let output = host_tools(&[
        "convert".as_ref(),
        fixture().as_os_str(),
        safetensors.as_os_str(),
    ]);
    assert!(output.status.success());
    let mut bytes = std::fs::read(&safetensors).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x04;
    std::fs::write(&safetensors, &bytes).unwrap();
    let output = host_tools(&["inspect".as_ref(), safetensors.as_os_str()]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        text.lines().last(),
        Some(
            "verified 102 tensors: every one lies inside the file (safetensors files hold no \
             checksums, so damaged bytes go unnoticed)"
        ),
        "{text}"
    );

    std::fs::write(&safetensors, &bytes[..last]).unwrap();
    let stderr = inspect_error(&safetensors);
    assert!(
        stderr.contains(&format!(
            "byte {last}: expected {DATA_LEN} bytes of tensors after the header"
        )),
        "{stderr}"
    );
}

#[test]
fn tensorflow_to_safetensors_and_back_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let safetensors = dir.path().join("model.safetensors");
    let back = dir.path().join("model.ckpt");
    for (from, to) in [
        (fixture(), safetensors.clone()),
        (safetensors.clone(), back.clone()),
    ] {
        let output = host_tools(&["convert".as_ref(), from.as_os_str(), to.as_os_str()]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for suffix in ["index", "data-00000-of-00001"] {
        let original = std::fs::read(fixture().with_extension(format!("ckpt.{suffix}"))).unwrap();
        let rewritten = std::fs::read(back.with_extension(format!("ckpt.{suffix}"))).unwrap();
        assert!(
            original == rewritten,
            "model.ckpt.{suffix} differs after the round trip"
        );
    }
    let checkpoint = Checkpoint::open(&safetensors).unwrap();
    let tensorflow = Checkpoint::open(&fixture()).unwrap();
    assert_eq!(checkpoint.entries().len(), 102);
    for entry in tensorflow.entries() {
        assert_eq!(
            checkpoint.read_tensor(&entry.name).unwrap(),
            tensorflow.read_tensor(&entry.name).unwrap()
        );
    }
}
