//! Runs as a user meets them, end to end through the `host-tools` binary: the cost printed
//! before generating and the progress a log shows when stderr is not a terminal; a run stopped by SIGTERM in the pad step leaves nothing
//! half-written anywhere and the next run finishes; partial files a killed run left are
//! cleared; a pad of the wrong size for its settings fails the pipeline and `host-tools pads`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{fixture, write_recordings};
use host_tools::pipeline::{DRY_RUN_DIR, PADS_DIR};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use open_nsynth::atomic::{partial_path, ABANDONED_AFTER, PARTIAL_SUFFIX};

/// Sine tones for the model, and one pad of 81 points × 2 pitches × 64000 samples (20 MB), which
/// takes the pad step a moment.
fn pipeline(workdir: &Path, config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host-tools"));
    command
        .args(["pipeline", "--dry-run", "--config"])
        .arg(config)
        .arg("--workdir")
        .arg(workdir);
    command
}

/// Where the dry runs of these tests put their pads.
fn dry_run_pads(workdir: &Path) -> PathBuf {
    workdir.join(DRY_RUN_DIR).join(PADS_DIR)
}

fn work(dir: &Path) -> (PathBuf, PathBuf) {
    let (workdir, config) = (dir.join("work"), dir.join("settings.json"));
    write_recordings(&workdir.join("audio_input"));
    std::fs::write(
        &config,
        r#"{"pads": {"NW": ["flute"], "NE": ["brass"], "SE": ["reed"], "SW": ["bell"]},
            "pitches": [48, 60], "resolution": 9, "final_length": 64000,
            "note_length": 64000, "gpus": 1}"#,
    )
    .unwrap();
    (workdir, config)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every partial file under `dir`, at any depth.
fn partial_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(partial_files(&path));
        } else if path.to_string_lossy().ends_with(PARTIAL_SUFFIX) {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_log_shows_the_progress_with_its_rate_and_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let embeddings = dir.path().join("embeddings");
    std::fs::create_dir(&embeddings).unwrap();
    for note in ["a", "b", "c"] {
        std::fs::copy(
            fixture("embeddings.npy"),
            embeddings.join(format!("{note}.npy")),
        )
        .unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .arg("generate")
        .arg("--checkpoint")
        .arg(fixture("model.ckpt"))
        .args([
            "--encoder-stages",
            "3",
            "--decoder-stages",
            "4",
            "--batch",
            "1",
        ])
        .arg("--embeddings")
        .arg(&embeddings)
        .arg("--out")
        .arg(dir.path().join("wavs"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let progress: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.split_once(" host_tools::progress: "))
        .map(|(_, message)| message)
        .collect();
    // The cost first, measured on a few steps of the model.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("to generate: 3 notes, 4,608 samples\nestimate: about "),
        "{stdout}"
    );
    assert!(
        stdout.contains(" on the CPU (") && stdout.contains(" at batch 1, measured on "),
        "{stdout}"
    );
    // The first line at the start, with the time left at the measured rate, then the summary.
    assert!(progress.len() >= 2, "{stderr}");
    let (done, estimate) = progress[0].split_once(" (").unwrap();
    assert_eq!(done, "generate: 0/4,608 samples");
    let (rate, left) = estimate.split_once(" samples/s, ETA ").unwrap();
    assert!(rate.replace(',', "").parse::<f64>().is_ok(), "{rate}");
    assert!(left.ends_with("s)"), "{left}");
    let summary = progress[progress.len() - 1];
    assert!(
        summary.starts_with("generate: 4,608 samples in ") && summary.ends_with(" samples/s)"),
        "{summary}"
    );
}

#[test]
fn sigterm_in_the_pad_step_leaves_nothing_half_written_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let (workdir, config) = work(dir.path());
    let pads = dry_run_pads(&workdir);
    let mut child = pipeline(&workdir, &config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !pads.is_dir() || partial_files(&pads).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pad step never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        std::thread::sleep(Duration::from_millis(2));
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let stopped = child.wait_with_output().unwrap();
    assert_eq!(stopped.status.code(), Some(1), "{}", text(&stopped));
    assert!(
        text(&stopped)
            .contains("stopped by a signal (SIGINT or SIGTERM); 1 unfinished file removed"),
        "{}",
        text(&stopped)
    );
    assert_eq!(names_in(&pads), Vec::<String>::new());
    assert_eq!(partial_files(&workdir), Vec::<PathBuf>::new());

    // A partial file a killed run left long ago, which no run is writing any more.
    let abandoned = partial_path(&pads.join("flute_brass_reed_bell.bin"));
    std::fs::File::create(&abandoned)
        .unwrap()
        .set_modified(SystemTime::now() - ABANDONED_AFTER)
        .unwrap();
    let rerun = pipeline(&workdir, &config).output().unwrap();
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(text(&rerun).contains("1 pads written"), "{}", text(&rerun));
    assert!(
        text(&rerun).contains("left by a killed run"),
        "{}",
        text(&rerun)
    );
    assert_eq!(
        names_in(&pads),
        [
            "flute_brass_reed_bell.bin",
            "flute_brass_reed_bell.bin.provenance.json",
            "settings.json",
            "settings.json.provenance.json"
        ]
    );
    assert_eq!(partial_files(&workdir), Vec::<PathBuf>::new());
}

#[test]
fn a_pad_of_the_wrong_size_fails_the_pipeline_and_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let (workdir, config) = work(dir.path());
    let first = pipeline(&workdir, &config).output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    let pads = dry_run_pads(&workdir);
    let pad = pads.join("flute_brass_reed_bell.bin");
    let bytes = std::fs::read(&pad).unwrap();
    std::fs::write(&pad, &bytes[..bytes.len() / 2]).unwrap();

    let again = pipeline(&workdir, &config).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        text(&again).contains(&format!(
            "{} is 10368000 bytes, but a pad of these settings (resolution, pitches, \
             final_length) is 20736000",
            pad.display()
        )),
        "{}",
        text(&again)
    );
    assert!(!text(&again).contains("pads written"), "{}", text(&again));

    let check = Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .args(["pads", "--settings"])
        .arg(pads.join("settings.json"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("wrong size: 10368000 of 20736000 bytes"),
        "{}",
        text(&check)
    );
}
