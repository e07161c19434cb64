//! The checkpoint commands on the checkpoint real TensorFlow wrote for the fixture: every
//! tensor reads with its checksum, `inspect` finds a truncated or damaged copy and names the
//! tensor and bytes at fault, and converting it to safetensors and back gives TensorFlow's own
//! bytes again.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
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

/// Bytes of the fixture's data file: its last tensor, `startconv/biases` ([32] float32), takes
/// the final 128.
const DATA_LEN: u64 = 333_056;

/// A copy of the fixture checkpoint in `folder`, to damage; returns its prefix and data file.
fn fixture_copy(folder: &Path) -> (PathBuf, PathBuf) {
    let prefix = folder.join("model.ckpt");
    for suffix in ["index", "data-00000-of-00001"] {
        let name = format!("model.ckpt.{suffix}");
        std::fs::copy(fixture().with_file_name(&name), folder.join(&name)).unwrap();
    }
    let data = folder.join("model.ckpt.data-00000-of-00001");
    assert_eq!(std::fs::metadata(&data).unwrap().len(), DATA_LEN);
    (prefix, data)
}

fn flip_bit(path: &Path, offset: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x04], offset).unwrap();
}

/// `inspect`'s exit code and the error it printed.
fn inspect_failure(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let output = host_tools(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
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
    let folder = tempfile::tempdir().unwrap();
    let (prefix, data) = fixture_copy(folder.path());
    OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len(DATA_LEN - 1)
        .unwrap();
    let (code, stderr) = inspect_failure(&["inspect".as_ref(), prefix.as_os_str()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "tensor \"startconv/biases\" needs bytes {}..{DATA_LEN} but the file has only {} bytes",
            DATA_LEN - 128,
            DATA_LEN - 1
        )),
        "{stderr}"
    );
}

#[test]
fn inspect_names_the_tensor_and_bytes_of_a_flipped_bit() {
    let folder = tempfile::tempdir().unwrap();
    let (prefix, data) = fixture_copy(folder.path());
    // The first tensor in the file is `ae_bottleneck/W` ([1, 1, 16, 16] float32).
    flip_bit(&data, 1000);
    let (code, stderr) = inspect_failure(&["inspect".as_ref(), prefix.as_os_str()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("tensor \"ae_bottleneck/W\" at bytes 0..1024: checksum mismatch"),
        "{stderr}"
    );
    assert!(
        stderr.contains("model.ckpt.data-00000-of-00001"),
        "{stderr}"
    );
}

#[test]
fn inspect_quick_lists_a_damaged_checkpoint_without_reading_its_tensors() {
    let folder = tempfile::tempdir().unwrap();
    let (prefix, data) = fixture_copy(folder.path());
    flip_bit(&data, 1000);
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
fn inspect_checks_the_byte_ranges_of_a_safetensors_file_which_has_no_checksums() {
    let folder = tempfile::tempdir().unwrap();
    let safetensors = folder.path().join("model.safetensors");
    let output = host_tools(&[
        "convert".as_ref(),
        fixture().as_os_str(),
        safetensors.as_os_str(),
    ]);
    assert!(output.status.success());
    flip_bit(
        &safetensors,
        std::fs::metadata(&safetensors).unwrap().len() - 1,
    );
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
