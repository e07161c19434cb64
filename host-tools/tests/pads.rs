//! `host-tools pads` against a demo folder written by `open-nsynth`'s demo generator.

use std::process::Command;

#[test]
fn pads_lists_every_combination_and_flags_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let files = open_nsynth::demo::write_demo(dir.path(), 1024).unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_host-tools"))
            .args(["pads", "--settings"])
            .arg(&files.settings)
            .output()
            .unwrap()
    };
    let output = run();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 pads, 1 ok, 0 missing or wrong"),
        "{stdout}"
    );

    std::fs::write(&files.pad, b"short").unwrap();
    let output = run();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout.contains("wrong size: 5 of 2654208 bytes"),
        "{stdout}"
    );
}
