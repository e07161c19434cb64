//! `host-tools pipeline` end to end with the real model code: recordings the test writes, the
//! small TensorFlow-made NSynth checkpoint of the fixtures, and the device's own settings parser,
//! pad loader and renderer playing a song from the pad that comes out.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, write_recordings};

use open_nsynth::render::{render, SongOptions, WavFormat};
use open_nsynth::settings::Settings;

fn pipeline(workdir: &Path, config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .arg("pipeline")
        .arg("--config")
        .arg(config)
        .arg("--workdir")
        .arg(workdir)
        .arg("--checkpoint")
        .arg(fixture("model.ckpt"))
        .args([
            "--encoder-stages",
            "3",
            "--decoder-stages",
            "4",
            "--batch",
            "8",
        ])
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn recordings_become_a_pad_the_device_plays() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("work");
    write_recordings(&workdir.join("audio_input"));
    let config: PathBuf = dir.path().join("settings.json");
    std::fs::write(
        &config,
        r#"{"pads": {"NW": ["flute"], "NE": ["brass"], "SE": ["reed"], "SW": ["bell"]},
            "pitches": [48, 60], "resolution": 3, "final_length": 1000, "note_length": 1536,
            "gpus": 1}"#,
    )
    .unwrap();

    let first = pipeline(&workdir, &config);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("1 pads written"), "{}", text(&first));

    // The device reads the settings and the pad the pipeline wrote, and plays a song from it.
    let pads = workdir.join("pads_output");
    let settings = Settings::from_file(&pads.join("settings.json")).unwrap();
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    let names: Vec<&str> = settings
        .corners
        .iter()
        .map(|c| c[0].name.as_str())
        .collect();
    assert_eq!(names, ["flute", "brass", "reed", "bell"]);
    let pad = pads.join("flute_brass_reed_bell.bin");
    assert_eq!(
        std::fs::metadata(&pad).unwrap().len(),
        settings.pad.layout.file_bytes()
    );
    let song = dir.path().join("song.mid");
    std::fs::write(&song, open_nsynth::demo::song_bytes()).unwrap();
    let report = render(
        &settings,
        &song,
        &dir.path().join("song.wav"),
        &SongOptions::default(),
        WavFormat::Float32,
    )
    .unwrap();
    assert_eq!(report.pad, pad);
    assert!(report.notes > 0);
    assert!(report.peak > 0.01, "the pad sounds: peak {}", report.peak);

    // A second run finds everything done.
    let second = pipeline(&workdir, &config);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("0 generated, 0 cleaned; 0 pads written"),
        "{}",
        text(&second)
    );
}
