//! The checkpoint commands on the checkpoint real TensorFlow wrote for the fixture: every
//! tensor reads with its checksum, and converting it to safetensors and back gives TensorFlow's
//! own bytes again.

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
