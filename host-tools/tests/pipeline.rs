//! `host-tools pipeline` end to end with the real model code: recordings the test writes, the
//! small TensorFlow-made NSynth checkpoint of the fixtures, and the device's own settings parser,
//! pad loader and renderer playing a song from the pad that comes out; a dry run before it kept
//! apart, and reruns that reuse what is up to date.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, write_recordings};

use open_nsynth::render::{render, SongOptions, WavFormat};
use open_nsynth::settings::Settings;

fn pipeline(workdir: &Path, config: &Path) -> Output {
    pipeline_with(workdir, config, &[])
}

/// The pipeline on the fixture model, with `args` added.
fn pipeline_with(workdir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .arg("pipeline")
        .arg("--config")
        .arg(config)
        .arg("--workdir")
        .arg(workdir)
        .arg("--checkpoint")
        .arg(fixture("model.ckpt"))
        .args(args)
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

/// The settings of these tests, with rows of `final_length` samples.
fn pipeline_settings(final_length: usize) -> String {
    format!(
        r#"{{"pads": {{"NW": ["flute"], "NE": ["brass"], "SE": ["reed"], "SW": ["bell"]}},
            "pitches": [48, 60], "resolution": 3, "final_length": {final_length},
            "note_length": 1536, "gpus": 1}}"#
    )
}

/// The last line the command printed.
fn last_line(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().last().unwrap_or_default().to_owned()
}

#[test]
fn recordings_become_a_pad_the_device_plays() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("work");
    write_recordings(&workdir.join("audio_input"));
    let config: PathBuf = dir.path().join("settings.json");
    std::fs::write(&config, pipeline_settings(1000)).unwrap();

    // A dry run first: sine tones, in a folder of their own.
    let dry = pipeline_with(&workdir, &config, &["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    let dry_pads = workdir.join("dry-run").join("pads_output");
    assert!(
        text(&dry).contains(&format!(
            "dry run (sine tones, not NSynth): pads and device settings in {}",
            dry_pads.display()
        )),
        "{}",
        text(&dry)
    );
    assert!(dry_pads.join("flute_brass_reed_bell.bin").exists());
    assert!(!workdir.join("pads_output").exists());

    // The cost, before any work: 18 sounds of 1536 samples, timed on a few steps of the model
    // at the run's batch size; nothing is written.
    let estimate = pipeline_with(&workdir, &config, &["--estimate"]);
    assert!(estimate.status.success(), "{}", text(&estimate));
    let printed = String::from_utf8_lossy(&estimate.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert_eq!(lines[0], "to generate: 18 notes, 27,648 samples");
    assert!(
        lines[1].starts_with("estimate: about ")
            && lines[1].contains(" on the CPU (")
            && lines[1].contains(", 3 batches of up to 8 notes (")
            && lines[1].contains(" at batch 8, measured on "),
        "{printed}"
    );
    // Ten steps of a batch of 8 on each group of threads that will generate at once (up to 3).
    let measured: usize = lines[1]
        .rsplit_once("measured on ")
        .and_then(|(_, rest)| rest.strip_suffix(" samples)"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("{printed}"));
    assert!([80, 160, 240].contains(&measured), "{printed}");
    assert_eq!(
        std::fs::read_dir(&workdir).unwrap().count(),
        2,
        "only audio_input and dry-run"
    );

    let first = pipeline(&workdir, &config);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        String::from_utf8_lossy(&first.stdout).starts_with(lines[0]),
        "{}",
        text(&first)
    );
    assert_eq!(
        last_line(&first),
        "8 recordings: 8 encoded; 18 sounds: 18 generated; 18 cleaned; 1 pads written"
    );
    let again = pipeline_with(&workdir, &config, &["--estimate"]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "to generate: nothing (18 already made, kept)\n"
    );

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

    // What made the pad is recorded beside it: the NSynth checkpoint, not the dry run.
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(pads.join("flute_brass_reed_bell.bin.provenance.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["dry_run"], false);
    assert_eq!(record["model"]["kind"], "nsynth");
    assert_eq!(record["final_length"], 1000);
    assert_eq!(record["recordings"].as_object().unwrap().len(), 8);

    // A second run finds everything done.
    let second = pipeline(&workdir, &config);
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(
        last_line(&second),
        "8 recordings: 0 encoded, 8 reused; 18 sounds: 0 generated, 18 reused; 0 cleaned, 18 \
         reused; 0 pads written, 1 reused"
    );

    // Shorter rows redo the pad only.
    std::fs::write(&config, pipeline_settings(800)).unwrap();
    let third = pipeline(&workdir, &config);
    assert!(third.status.success(), "{}", text(&third));
    assert_eq!(
        last_line(&third),
        "8 recordings: 0 encoded, 8 reused; 18 sounds: 0 generated, 18 reused; 0 cleaned, 18 \
         reused; 1 pads written (1 redone: final_length changed)"
    );
    let settings = Settings::from_file(&pads.join("settings.json")).unwrap();
    assert_eq!(settings.pad.layout.length, 800);
    assert_eq!(
        std::fs::metadata(&pad).unwrap().len(),
        settings.pad.layout.file_bytes()
    );
}
