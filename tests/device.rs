//! The device commands end to end: `run --check` against a board whose hardware is missing,
//! board selection errors, and `install` onto a directory tree laid out like a Raspberry Pi OS
//! card.

#![cfg(feature = "device")]

use std::path::Path;
use std::process::{Command, Output};

fn open_nsynth(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_open-nsynth"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The demo with a second, never generated instrument in the first corner and a key the
/// original does not know.
fn demo_with_a_missing_pad(dir: &Path) {
    open_nsynth(dir, &["demo", "--dir", "demo", "--length", "1024"]);
    let path = dir.join("demo/settings.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let corner = &mut json["corners"][0]["instruments"];
    let mut other = corner[0].clone();
    other["name"] = "cello".into();
    corner.as_array_mut().unwrap().push(other);
    json["colour"] = "blue".into();
    std::fs::write(&path, json.to_string()).unwrap();
}

/// `run --check` on the demo settings with `board`.
fn check_with_board(dir: &Path, board: &str) -> Output {
    let args = [
        "run",
        "--settings",
        "demo/settings.json",
        "--board",
        board,
        "--check",
    ];
    open_nsynth(dir, &args)
}

#[test]
fn check_reports_settings_hardware_and_every_pad() {
    let dir = tempfile::tempdir().unwrap();
    demo_with_a_missing_pad(dir.path());
    std::fs::write(
        dir.path().join("bench.toml"),
        "name = \"bench\"\ndescription = \"A bench rig\"\n\
         [i2c]\ndevice = \"/dev/i2c-none\"\nmcu_address = 0x47\noled_address = 0x3D\n",
    )
    .unwrap();
    let output = check_with_board(dir.path(), "bench.toml");
    let report = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{report}");
    let line = |start: &str, contains: &str| {
        assert!(
            report
                .lines()
                .any(|line| line.starts_with(start) && line.contains(contains)),
            "no `{start}` line with `{contains}` in:\n{report}"
        );
    };
    line("note ", "`colour`");
    line("ok ", "board bench: A bench rig");
    line(
        "PROBLEM ",
        "input microcontroller: cannot open the I2C bus /dev/i2c-none",
    );
    line("PROBLEM ", "OLED: cannot open the I2C bus /dev/i2c-none");
    line("note ", "no serial MIDI port on this board");
    line("ok ", "demo-flute_demo-brass_demo-reed_demo-bell.bin: ok");
    line(
        "PROBLEM ",
        "cello_demo-brass_demo-reed_demo-bell.bin: missing",
    );
    line("note ", "1 of 2 pads for the corner combinations are there");
}

/// `run --check` on the desktop board with `RUST_LOG` set to `filter`, where ALSA's default
/// sound device is a plugin that does not exist (`~/.asoundrc`), so that the ALSA library has
/// errors to report on any machine. Standard error is a pipe.
fn check_with_broken_alsa(dir: &Path, filter: &str) -> String {
    std::fs::write(
        dir.join(".asoundrc"),
        "pcm.!default { type open_nsynth_no_such_plugin }\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_open-nsynth"))
        .args([
            "run",
            "--settings",
            "demo/settings.json",
            "--board",
            "desktop",
            "--check",
        ])
        .current_dir(dir)
        .env("HOME", dir)
        .env("RUST_LOG", filter)
        .output()
        .unwrap();
    text(&output.stderr)
}

#[test]
fn check_logs_alsa_errors_as_plain_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    demo_with_a_missing_pad(dir.path());
    let info = check_with_broken_alsa(dir.path(), "info");
    let debug = check_with_broken_alsa(dir.path(), "info,alsa=debug");
    for log in [&info, &debug] {
        assert!(
            !log.lines().any(|line| line.starts_with("ALSA lib")),
            "ALSA printed to standard error itself:\n{log}"
        );
        assert!(!log.contains("\x1b["), "colour codes in a pipe:\n{log}");
        let warnings = log
            .lines()
            .filter(|line| line.contains("the ALSA library reported a problem"))
            .count();
        assert_eq!(warnings, 1, "one warning about ALSA's messages:\n{log}");
    }
    assert!(
        debug
            .lines()
            .any(|line| line.starts_with("DEBUG") && line.contains("open_nsynth_no_such_plugin")),
        "ALSA's messages are there at debug level:\n{debug}"
    );
}

#[test]
fn an_unknown_board_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    demo_with_a_missing_pad(dir.path());
    let output = check_with_board(dir.path(), "rpi9");
    assert_eq!(output.status.code(), Some(1));
    let error = text(&output.stderr);
    assert!(
        error.contains("unknown board `rpi9`")
            && error.contains("rpi3, rpi3bplus, rpi4, rpizero2w, rpi5, desktop"),
        "{error}"
    );
}

/// The first bytes of a 64-bit ARM Linux program, as install recognises one.
fn arm64_program() -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2;
    bytes[5] = 1;
    bytes[6] = 1;
    bytes[18..20].copy_from_slice(&0xB7u16.to_le_bytes());
    bytes
}

#[test]
fn install_sets_up_a_card_once_and_then_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    demo_with_a_missing_pad(dir.path());
    let root = dir.path().join("rootfs");
    let boot = dir.path().join("bootfs");
    for folder in ["etc/systemd/system", "lib"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    std::fs::create_dir_all(&boot).unwrap();
    let files = [
        (
            "rootfs/etc/os-release",
            "PRETTY_NAME=\"Raspbian GNU/Linux 12 (bookworm)\"\n",
        ),
        ("rootfs/etc/modules", "# /etc/modules\n"),
        (
            "rootfs/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n",
        ),
        ("rootfs/etc/group", "root:x:0:\naudio:x:29:pi\n"),
        ("rootfs/lib/ld-linux-aarch64.so.1", ""),
        ("bootfs/config.txt", "dtparam=audio=on\n[all]\n"),
        (
            "bootfs/cmdline.txt",
            "console=serial0,115200 console=tty1 root=PARTUUID=1-02 rootwait\n",
        ),
    ];
    for (path, content) in files {
        std::fs::write(dir.path().join(path), content).unwrap();
    }
    std::fs::write(dir.path().join("open-nsynth-arm64"), arm64_program()).unwrap();
    let install = || {
        open_nsynth(
            dir.path(),
            &[
                "install",
                "--sd",
                "rootfs",
                "--boot",
                "bootfs",
                "--board",
                "rpi4",
                "--binary",
                "open-nsynth-arm64",
                "--settings",
                "demo/settings.json",
            ],
        )
    };

    let first = install();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("Done: open-nsynth starts when the Pi boots."));
    let unit =
        std::fs::read_to_string(root.join("etc/systemd/system/open-nsynth.service")).unwrap();
    assert!(unit.contains("--board rpi4"), "{unit}");
    let config = std::fs::read_to_string(boot.join("config.txt")).unwrap();
    assert!(config.contains("dtoverlay=midi-uart0"), "{config}");
    assert!(!std::fs::read_to_string(boot.join("cmdline.txt"))
        .unwrap()
        .contains("serial0"));
    assert_eq!(
        std::fs::read(root.join("opt/open-nsynth/open-nsynth")).unwrap(),
        arm64_program()
    );

    let second = install();
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("Nothing to change"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(boot.join("config.txt")).unwrap(),
        config
    );
}
