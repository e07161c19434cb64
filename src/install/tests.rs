//! Whole installs onto a fresh card: what is written, that installing again changes nothing,
//! another board, the user's own files, the pads, and the requests refused before anything is
//! written.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::fixture::{
    board, options, program, program_needing, read, small_pad_settings, write, Sd, PARTUUID,
    SMALL_PAD_BYTES, STOCK_CONFIG, STOCK_MODULES,
};
use super::*;
use crate::atomic;

fn changes(report: &InstallReport) -> Vec<(String, Change)> {
    report
        .files
        .iter()
        .map(|file| {
            let name = file
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, file.change)
        })
        .collect()
}

#[test]
fn sets_up_a_fresh_card() {
    let sd = Sd::new();
    let report = sd.install(&board("rpi3")).unwrap();
    assert_eq!(report.boot_dir, sd.boot);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    use Change::*;
    assert_eq!(
        changes(&report),
        [
            ("open-nsynth", Created),
            ("settings.json", Created),
            ("open-nsynth.service", Created),
            ("open-nsynth.service", Created),
            ("modules", Updated),
            ("cmdline.txt", Updated),
            ("config.txt", Updated),
        ]
        .map(|(name, change)| (name.to_owned(), change))
    );

    let program = sd.on_pi("/opt/open-nsynth/open-nsynth");
    assert_eq!(fs::read(&program).unwrap(), fs::read(&sd.binary).unwrap());
    assert_eq!(
        fs::metadata(&program).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        read(&sd.on_pi("/opt/open-nsynth/settings.json")),
        read(&sd.settings)
    );

    let unit = sd.unit();
    for line in [
        "DefaultDependencies=no",
        "After=systemd-remount-fs.service systemd-modules-load.service \
         systemd-journald.socket",
        // The shipped settings keep pads in /home/pi/pads and patches in /home/pi.
        "RequiresMountsFor=/home/pi /home/pi/pads /opt/open-nsynth",
        "User=pi",
        "SupplementaryGroups=audio dialout gpio i2c",
        "WorkingDirectory=/opt/open-nsynth",
        "ExecStart=/opt/open-nsynth/open-nsynth run --settings \
         /opt/open-nsynth/settings.json --board rpi3",
        "Restart=on-failure",
        "LimitRTPRIO=95",
        "LimitMEMLOCK=infinity",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "no `{line}` in\n{unit}");
    }
    // Nothing the instrument does not need is waited for.
    let settings: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        !settings
            .iter()
            .any(|l| l.contains("network") || l.contains("sound.target")),
        "{unit}"
    );
    // Only the audio thread asks for real-time priority; the unit sets none for the others.
    assert!(
        !settings.iter().any(|l| l.starts_with("CPUScheduling")),
        "{unit}"
    );
    assert_eq!(
        fs::read_link(sd.on_pi("/etc/systemd/system/multi-user.target.wants/open-nsynth.service"))
            .unwrap(),
        Path::new("/etc/systemd/system/open-nsynth.service")
    );

    assert_eq!(
        read(&sd.on_pi("/etc/modules")),
        format!("{STOCK_MODULES}i2c-dev\n")
    );
    assert_eq!(
        read(&sd.boot.join("cmdline.txt")),
        format!(
            "console=tty1 root=PARTUUID={PARTUUID}-02 rootfstype=ext4 fsck.repair=yes \
             rootwait quiet splash\n"
        )
    );
    let config = read(&sd.boot.join("config.txt"));
    let added = config
        .strip_prefix(STOCK_CONFIG)
        .expect("the stock lines are kept as they were");
    let added: Vec<&str> = added.lines().collect();
    assert_eq!(added[0], "");
    assert_eq!(added[1], "# >>> open-nsynth: board rpi3");
    assert!(
        added[2].starts_with("# Raspberry Pi 3 Model B"),
        "{}",
        added[2]
    );
    // Without [all], the lines would apply to a Compute Module 4 only.
    assert!(added[3].starts_with("# Written by"), "{}", added[3]);
    assert_eq!(added[4], "[all]");
    assert_eq!(
        added[5..],
        [
            "dtparam=audio=off",
            "dtoverlay=iqaudio-dac",
            "dtparam=i2c_arm=on",
            "dtparam=i2c_arm_baudrate=640000",
            "enable_uart=1",
            "dtoverlay=pi3-miniuart-bt",
            "dtoverlay=midi-uart0",
            "# <<< open-nsynth",
        ]
    );
    assert!(
        !sd.snapshot()
            .keys()
            .any(|path| path.to_string_lossy().ends_with(atomic::PARTIAL_SUFFIX)),
        "no temporary file is left behind"
    );
}

#[test]
fn installing_twice_changes_nothing() {
    let sd = Sd::new();
    sd.install(&board("rpi3")).unwrap();
    let before = sd.snapshot();
    let report = sd.install(&board("rpi3")).unwrap();
    assert_eq!(sd.snapshot(), before);
    assert!(!report.changed_anything(), "{report}");
    assert!(report
        .files
        .iter()
        .all(|file| file.change == Change::Unchanged));
    assert!(report.to_string().contains("Nothing to change"));
}

#[test]
fn another_board_replaces_the_block() {
    let sd = Sd::new();
    sd.install(&board("rpi3")).unwrap();
    let report = sd.install(&board("rpi4")).unwrap();
    use Change::*;
    assert_eq!(
        changes(&report),
        [
            ("open-nsynth", Unchanged),
            ("settings.json", Unchanged),
            ("open-nsynth.service", Updated),
            ("open-nsynth.service", Unchanged),
            ("modules", Unchanged),
            ("cmdline.txt", Unchanged),
            ("config.txt", Updated),
        ]
        .map(|(name, change)| (name.to_owned(), change))
    );
    assert!(report
        .notes
        .iter()
        .any(|note| note.contains("--board rpi4, which wins")));
    let config = read(&sd.boot.join("config.txt"));
    let block = config.strip_prefix(STOCK_CONFIG).unwrap();
    assert_eq!(block.matches("# >>> open-nsynth").count(), 1);
    assert_eq!(block.matches("# <<< open-nsynth").count(), 1);
    assert!(block.contains("# >>> open-nsynth: board rpi4\n"));
    assert!(block.lines().any(|line| line == "dtoverlay=miniuart-bt"));
    assert!(!block.contains("pi3-miniuart-bt"));
    assert!(sd
        .unit()
        .lines()
        .any(|line| line.ends_with("settings.json --board rpi4")));

    let before = sd.snapshot();
    sd.install(&board("rpi4")).unwrap();
    assert_eq!(sd.snapshot(), before);
}

#[test]
fn the_users_settings_and_patches_are_kept() {
    let sd = Sd::new();
    let own = include_str!("../../settings.json").replace(
        "\"/home/pi/patches.json\"",
        "\"my-patches.json\", \"board\": \"rpi4\"",
    );
    let settings = sd.on_pi("/opt/open-nsynth/settings.json");
    let patches = sd.on_pi("/opt/open-nsynth/my-patches.json");
    write(&settings, &own);
    write(&patches, "{\"patches\": []}");
    let report = sd.install(&board("rpi3")).unwrap();
    assert_eq!(read(&settings), own);
    assert_eq!(read(&patches), "{\"patches\": []}");
    let kept: Vec<&Path> = report
        .files
        .iter()
        .filter(|file| file.change == Change::Kept)
        .map(|file| file.path.as_path())
        .collect();
    assert_eq!(kept, [settings.as_path(), patches.as_path()]);
    assert!(report
        .notes
        .iter()
        .any(|note| note.contains("kept the card's own")));
}

#[test]
fn patches_at_an_absolute_path_are_found_on_the_card() {
    let sd = Sd::new();
    let patches = sd.on_pi("/home/pi/patches.json");
    write(&patches, "{}");
    let report = sd.install(&board("rpi3")).unwrap();
    assert!(report.files.contains(&FileChange {
        path: patches,
        change: Change::Kept
    }));
}

#[test]
fn a_board_file_of_ones_own_is_installed_with_the_program() {
    let sd = Sd::new();
    let text = include_str!("../../boards/rpi4.toml").replace("name = \"rpi4\"", "name = \"mine\"");
    let path = sd.root.parent().unwrap().join("mine.toml");
    write(&path, &text);
    let mine = Board::from_file(&path).unwrap();
    sd.install(&mine).unwrap();
    assert_eq!(read(&sd.on_pi("/opt/open-nsynth/board.toml")), text);
    assert!(sd
        .unit()
        .lines()
        .any(|line| line.ends_with("--board /opt/open-nsynth/board.toml")));
}

#[test]
fn nothing_is_written_for_bad_requests() {
    let sd = Sd::new();
    let before = sd.snapshot();
    let error = sd.install(&board("desktop")).unwrap_err();
    assert!(
        matches!(error, InstallError::NothingToInstall { .. }),
        "{error}"
    );

    write(&sd.binary, program(0x3E));
    let error = sd.install(&board("rpi3")).unwrap_err();
    assert!(error.to_string().contains("x86-64"), "{error}");
    assert!(
        error.to_string().contains("aarch64-unknown-linux-gnu"),
        "{error}"
    );
    write(&sd.binary, "#!/bin/sh\n");
    let error = sd.install(&board("rpi3")).unwrap_err();
    assert!(error.to_string().contains("no ELF header"), "{error}");
    write(&sd.binary, program(0xB7));

    let rpi3 = board("rpi3");
    let error = install(&InstallOptions {
        user: "Pi User",
        ..options(&sd, &rpi3)
    })
    .unwrap_err();
    assert!(matches!(error, InstallError::UserName { .. }), "{error}");

    write(&sd.settings, "{\"audio\": {\"sampleRate\": \"fast\"}}");
    let error = sd.install(&rpi3).unwrap_err();
    assert!(matches!(error, InstallError::Settings(_)), "{error}");
    assert!(error.to_string().contains("audio.sampleRate"), "{error}");
    assert_eq!(sd.snapshot(), before);
}

#[test]
fn what_the_card_lacks_is_reported() {
    let sd = Sd::new();
    write(&sd.on_pi("/etc/group"), "root:x:0:\naudio:x:29:\n");
    write(
        &sd.on_pi("/etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\n",
    );
    write(&sd.binary, program(0x28));
    let rpi3 = board("rpi3");
    let report = install(&InstallOptions {
        user: "synth",
        ..options(&sd, &rpi3)
    })
    .unwrap();
    let notes = report.notes.join("\n");
    assert!(notes.contains("dialout, gpio, i2c"), "{notes}");
    assert!(notes.contains("user `synth`"), "{notes}");
    assert!(notes.contains("32-bit ARM"), "{notes}");
    let unit = sd.unit();
    assert!(
        unit.lines().any(|line| line == "SupplementaryGroups=audio"),
        "{unit}"
    );
    assert!(unit.lines().any(|line| line == "User=synth"), "{unit}");
    assert!(
        unit.contains("ExecStartPre=+/bin/chown synth: /opt/open-nsynth"),
        "{unit}"
    );
}

fn install_pads(sd: &Sd, pads: &Path) -> Result<InstallReport, InstallError> {
    let rpi3 = board("rpi3");
    install(&InstallOptions {
        pads: Some(pads),
        ..options(sd, &rpi3)
    })
}

#[test]
fn pads_are_copied_to_the_data_directory_and_reported() {
    let sd = Sd::new();
    let output = sd.pads_output();
    let report = install_pads(&sd, &output).unwrap();
    let folder = sd.on_pi("/home/pi/pads");
    let mut copied: Vec<String> = fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    copied.sort();
    assert_eq!(
        copied,
        ["bass_guitar_organ_reed.bin", "flute_mallet_brass_vocal.bin"]
    );
    for name in &copied {
        let pad = folder.join(name);
        assert_eq!(
            fs::read(&pad).unwrap(),
            fs::read(output.join(name)).unwrap()
        );
        assert_eq!(
            fs::metadata(&pad).unwrap().permissions().mode() & 0o7777,
            0o644
        );
    }
    assert_eq!(
        report.pads,
        Some(PadsLine::Copied {
            folder: "/home/pi/pads".into(),
            copied: 2,
            unchanged: 0
        })
    );
    let text = report.to_string();
    assert!(
        text.contains("pads: 2 copied, 0 unchanged, in /home/pi/pads on the Pi"),
        "{text}"
    );
    assert!(text.contains("Done"), "{text}");
}

#[test]
fn pads_installed_again_are_unchanged() {
    let sd = Sd::new();
    let output = sd.pads_output();
    install_pads(&sd, &output).unwrap();
    let before = sd.snapshot();
    let report = install_pads(&sd, &output).unwrap();
    assert_eq!(sd.snapshot(), before);
    assert!(!report.changed_anything(), "{report}");
    assert!(
        report
            .to_string()
            .contains("pads: 0 copied, 2 unchanged, in /home/pi/pads on the Pi"),
        "{report}"
    );

    // A pad made again with other samples is replaced.
    write(
        &output.join("bass_guitar_organ_reed.bin"),
        [3u8; SMALL_PAD_BYTES],
    );
    let report = install_pads(&sd, &output).unwrap();
    assert!(report.to_string().contains("pads: 1 copied, 1 unchanged"));
    assert_eq!(
        fs::read(sd.on_pi("/home/pi/pads/bass_guitar_organ_reed.bin")).unwrap(),
        [3u8; SMALL_PAD_BYTES]
    );
}

#[test]
fn pads_go_where_the_cards_own_settings_say() {
    let sd = Sd::new();
    let output = sd.pads_output();
    // The settings being installed want pads of another size; the card's own win.
    fs::copy("settings.json", &sd.settings).unwrap();
    let own = small_pad_settings().replace("\"/home/pi/pads\"", "\"pads\"");
    write(&sd.on_pi("/opt/open-nsynth/settings.json"), &own);
    let report = install_pads(&sd, &output).unwrap();
    assert!(sd
        .on_pi("/opt/open-nsynth/pads/bass_guitar_organ_reed.bin")
        .is_file());
    assert!(
        report
            .to_string()
            .contains("in /opt/open-nsynth/pads on the Pi"),
        "{report}"
    );
}

#[test]
fn bad_pads_are_refused_before_anything_is_written() {
    let sd = Sd::new();
    let output = sd.pads_output();
    let before = sd.snapshot();

    let short = output.join("flute_mallet_brass_vocal.bin");
    write(&short, [0u8; 10]);
    let error = install_pads(&sd, &output).unwrap_err();
    assert!(matches!(error, InstallError::PadSize { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(&short.display().to_string()), "{message}");
    assert!(message.contains("wrong size: 10 of 64 bytes"), "{message}");
    fs::remove_file(&short).unwrap();

    let stranger = output.join("nothing_guitar_organ_reed.bin");
    write(&stranger, [0u8; SMALL_PAD_BYTES]);
    let error = install_pads(&sd, &output).unwrap_err();
    assert!(matches!(error, InstallError::PadName { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&stranger.display().to_string()),
        "{message}"
    );
    assert!(message.contains("bass_guitar_organ_reed.bin"), "{message}");

    let empty = tempfile::tempdir().unwrap();
    let error = install_pads(&sd, empty.path()).unwrap_err();
    assert!(matches!(error, InstallError::NoPads { .. }), "{error}");
    assert_eq!(sd.snapshot(), before);
}

#[test]
fn without_pads_the_report_says_where_they_go() {
    let sd = Sd::new();
    let report = sd.install(&board("rpi3")).unwrap();
    assert_eq!(
        report.pads,
        Some(PadsLine::Expected {
            folder: "/home/pi/pads".into(),
            present: 0,
            selectable: 16
        })
    );
    assert!(
        report.to_string().contains(
            "pads: 0 of 16 the settings select are in /home/pi/pads on the card; copy them \
             there or use --pads"
        ),
        "{report}"
    );

    write(&sd.settings, small_pad_settings());
    fs::remove_file(sd.on_pi("/opt/open-nsynth/settings.json")).unwrap();
    write(
        &sd.on_pi("/home/pi/pads/bass_guitar_organ_reed.bin"),
        [0u8; SMALL_PAD_BYTES],
    );
    let report = sd.install(&board("rpi3")).unwrap();
    assert!(
        report
            .to_string()
            .contains("pads: 1 of 16 the settings select are in /home/pi/pads on the card"),
        "{report}"
    );
}

/// Installs `pads` (if any) in the read-only layout onto `sd`, whose disk is the image `disk`.
fn install_read_only(
    sd: &Sd,
    disk: &Path,
    pads: Option<&Path>,
) -> Result<InstallReport, InstallError> {
    let board = board("rpi3");
    install(&InstallOptions {
        pads,
        read_only: Some(ReadOnly {
            disk: Some(disk),
            scratch: Some(sd.root.parent().unwrap()),
            stamp: 1_700_000_000,
        }),
        ..options(sd, &board)
    })
}

#[test]
fn the_read_only_layout_adds_pads_and_data_partitions_and_keeps_the_data() {
    use crate::disk::ext4::Ext4;
    use crate::disk::Disk;
    let sd = Sd::new();
    let pads = sd.pads_output();
    let disk = sd.root.parent().unwrap().join("card.img");
    sd.disk_image(&disk);

    let report = install_read_only(&sd, &disk, Some(&pads)).unwrap();
    assert!(
        report
            .to_string()
            .contains("pads: 2 copied, 0 unchanged, in /opt/open-nsynth/pads on the Pi"),
        "{report}"
    );
    // The pads are reported where the Pi will see them, not where they were gathered.
    let printed = report.to_string();
    assert!(
        printed.contains("created    /opt/open-nsynth/pads/bass_guitar_organ_reed.bin"),
        "{printed}"
    );
    assert!(!printed.contains(".open-nsynth-"), "{printed}");
    // The root: overlay, mount points, mount lines, command line, settings, unit.
    assert!(
        fs::metadata(sd.on_pi("/opt/open-nsynth/overlay-init"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
            == 0o755
    );
    assert!(
        sd.on_pi("/opt/open-nsynth/pads").is_dir() && sd.on_pi("/var/lib/open-nsynth").is_dir()
    );
    assert!(read(&sd.on_pi("/etc/fstab")).contains(&format!(
        "PARTUUID={PARTUUID}-03 /opt/open-nsynth/pads ext4 ro,"
    )));
    assert!(
        read(&sd.boot.join("cmdline.txt")).ends_with(" ro init=/opt/open-nsynth/overlay-init\n")
    );
    assert!(read(&sd.on_pi("/opt/open-nsynth/settings.json"))
        .contains("\"dataDirectory\": \"/opt/open-nsynth/pads\""));
    assert!(sd.unit().contains("WorkingDirectory=/var/lib/open-nsynth"));
    // Pads are not copied into the root's mount point, but onto their partition.
    assert_eq!(
        fs::read_dir(sd.on_pi("/opt/open-nsynth/pads"))
            .unwrap()
            .count(),
        0
    );
    let card = Disk::open(&disk).unwrap();
    let fs_of = |number| Ext4::open(&card, &card.partition(number).unwrap(), 0).unwrap();
    assert!(fs_of(3)
        .read("/bass_guitar_organ_reed.bin")
        .unwrap()
        .is_some());

    // A patch saved on the data partition survives installing again, with and without pads.
    let patch = sd.root.parent().unwrap().join("patches.json");
    fs::write(&patch, "{}").unwrap();
    let data = fs_of(4);
    let mut edits = data.edits();
    edits
        .file(
            "/patches.json",
            &patch,
            0o644,
            crate::disk::ext4::Owner::ROOT,
        )
        .unwrap();
    edits.apply(sd.root.parent().unwrap()).unwrap();
    let again = install_read_only(&sd, &disk, None).unwrap();
    assert!(!again.changed_anything(), "{again}");
    assert!(
        again
            .to_string()
            .contains("pads: the pads partition was kept as it is, with 2 pads"),
        "{again}"
    );
    fs::remove_file(pads.join("flute_mallet_brass_vocal.bin")).unwrap();
    install_read_only(&sd, &disk, Some(&pads)).unwrap();
    let card = Disk::open(&disk).unwrap();
    let fs_of = |number| Ext4::open(&card, &card.partition(number).unwrap(), 0).unwrap();
    assert_eq!(fs_of(4).read("/patches.json").unwrap().unwrap(), b"{}");
    // The pads partition holds exactly the pads given last.
    assert!(fs_of(3)
        .read("/flute_mallet_brass_vocal.bin")
        .unwrap()
        .is_none());
    assert!(fs_of(3)
        .read("/bass_guitar_organ_reed.bin")
        .unwrap()
        .is_some());
}

#[test]
fn a_program_needing_a_newer_c_library_than_the_cards_is_refused_before_anything_is_written() {
    let sd = Sd::new();
    // The card's C library: this machine's own, where an arm64 system keeps it.
    let library = super::fixture::this_machines_c_library();
    write(&sd.on_pi("/usr/lib/aarch64-linux-gnu/libc.so.6"), library);
    let before = sd.snapshot();

    write(&sd.binary, program_needing(b"GLIBC_9.9.5"));
    let error = sd.install(&board("rpi3")).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, InstallError::OldLibc { .. }), "{message}");
    assert!(
        message.contains("needs the GNU C library 9.9 or later, and the card has 2.")
            && message.contains("(/usr/lib/aarch64-linux-gnu/libc.so.6)")
            && message.contains("flash a current Raspberry Pi OS"),
        "{message}"
    );
    assert_eq!(sd.snapshot(), before);

    // The same program as built: the card's library is new enough, and nothing is said of it.
    write(&sd.binary, program_needing(b"GLIBC_2.2.5"));
    let report = sd.install(&board("rpi3")).unwrap();
    assert!(!report.to_string().contains("C library"), "{report}");
}

#[test]
fn a_data_partition_without_a_pads_partition_is_left_alone() {
    use crate::disk::Disk;
    let sd = Sd::new();
    let pads = sd.pads_output();
    let disk = sd.root.parent().unwrap().join("card.img");
    sd.disk_image(&disk);
    let mut card = Disk::open(&disk).unwrap();
    let end = card.partition(2).unwrap().end();
    card.set_partition(4, end + (4 << 20), 4 << 20, 0x83)
        .unwrap();
    card.write_at(end + (4 << 20), b"a saved patch").unwrap();
    let before = fs::read(&disk).unwrap();
    let card_before = sd.snapshot();
    let error = install_read_only(&sd, &disk, Some(&pads)).unwrap_err();
    assert!(
        error.to_string().contains("partition 4 but no partition 3"),
        "{error}"
    );
    assert!(fs::read(&disk).unwrap() == before, "the disk was written");
    assert_eq!(sd.snapshot(), card_before, "the root was written");
}
