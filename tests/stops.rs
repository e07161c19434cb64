//! End-to-end runs of the limits and the clean stops: sizes out of range, outputs that would
//! overwrite an input, renders and recordings stopped by SIGINT or SIGTERM, headless sessions that
//! end by themselves, and a render's memory as the song grows.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn open_nsynth(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_open-nsynth"));
    command.current_dir(dir).stdin(Stdio::null());
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    open_nsynth(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `render` of the demo's settings and `song.mid` into `out`.
fn render(dir: &Path, out: &str) -> Command {
    let mut command = open_nsynth(dir);
    command.args([
        "render",
        "--settings",
        "demo/settings.json",
        "--midi",
        "song.mid",
        "--out",
        out,
    ]);
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A folder with the demo (short rows, to keep the tests quick) and a song `seconds` long.
fn demo_with_song(seconds: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    open_nsynth::demo::write_demo(&dir.path().join("demo"), 2048).unwrap();
    std::fs::write(
        dir.path().join("song.mid"),
        open_nsynth::demo::long_song_bytes(seconds),
    )
    .unwrap();
    dir
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
}

/// Waits until a file whose name contains `part` shows up in `dir`.
fn wait_for_file(dir: &Path, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !names_in(dir).iter().any(|name| name.contains(part)) {
        assert!(Instant::now() < deadline, "no {part} file in {dir:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the child's standard error until a line contains `text`; returns what it read.
fn wait_for_line(child: &mut Child, text: &str) -> String {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(text) {
            // Keep draining in the background so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return seen;
        }
    }
    panic!("the child ended without printing {text:?}:\n{seen}");
}

fn wav_frames(path: &Path) -> (hound::WavSpec, u32) {
    let reader = hound::WavReader::open(path).unwrap();
    let frames = reader.duration();
    // The header agrees with the data that is really there.
    let samples = reader.into_samples::<i16>().count() as u32;
    let spec = hound::WavReader::open(path).unwrap().spec();
    assert_eq!(samples, frames * u32::from(spec.channels));
    (spec, frames)
}

#[test]
fn sizes_out_of_range_are_refused_naming_the_flag_and_the_limit() {
    let dir = demo_with_song(4);
    let render = |tail: &str| {
        render(dir.path(), "out.wav")
            .arg(format!("--tail={tail}"))
            .output()
            .unwrap()
    };
    for tail in ["1e9", "61", "-1", "NaN"] {
        let output = render(tail);
        assert!(!output.status.success());
        let message = stderr(&output);
        assert!(
            message.contains("--tail") && message.contains("0 to 60"),
            "{message}"
        );
    }
    assert!(render("60").status.success());
    for length in ["5000000", "99999999999", "0", "1", "1023"] {
        let output = run(dir.path(), &["demo", "--dir", "big", "--length", length]);
        assert!(!output.status.success(), "--length {length}");
        let message = stderr(&output);
        assert!(
            message.contains(&format!("--length {length}")) && message.contains("1024–103563"),
            "{message}"
        );
    }
    assert!(!dir.path().join("big").exists(), "nothing was written");
    let output = run(dir.path(), &["simulate", "--headless", "--duration", "1e9"]);
    assert!(
        stderr(&output).contains("--duration"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_output_that_is_an_input_or_a_folder_is_refused_before_anything_is_written() {
    let dir = demo_with_song(4);
    let song = std::fs::read(dir.path().join("song.mid")).unwrap();
    let before = names_in(dir.path());
    for (out, expected) in [
        ("song.mid", "is also an input"),
        ("./song.mid", "is also an input"),
        ("demo/settings.json", "is also an input"),
        ("demo", "is a folder"),
    ] {
        let output = render(dir.path(), out).output().unwrap();
        assert!(!output.status.success());
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    }
    assert_eq!(std::fs::read(dir.path().join("song.mid")).unwrap(), song);
    assert_eq!(names_in(dir.path()), before);
    assert!(!names_in(&dir.path().join("demo"))
        .iter()
        .any(|name| name.contains("partial")));
}

#[test]
fn a_render_stopped_by_a_signal_leaves_no_file_and_fails() {
    let dir = demo_with_song(1200);
    for stop in [Signal::SIGTERM, Signal::SIGINT] {
        let child = render(dir.path(), "song.wav")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_file(dir.path(), ".partial");
        signal(&child, stop);
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "{stop}");
        assert!(
            stderr(&output).contains("stopped by a signal"),
            "{}",
            stderr(&output)
        );
        assert_eq!(names_in(dir.path()), ["demo", "song.mid"], "{stop}");
    }
}

/// Peak resident memory of a render of a song `seconds` long, in kB, read from the process's
/// high-water mark while it runs.
fn render_peak_kb(dir: &Path, seconds: u32) -> u64 {
    std::fs::write(
        dir.join("song.mid"),
        open_nsynth::demo::long_song_bytes(seconds),
    )
    .unwrap();
    let mut child = render(dir, "song.wav")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some((_, high_water)) = open_nsynth::app::memory_kb(&pid) {
            peak = peak.max(high_water);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    peak
}

#[cfg(target_os = "linux")]
#[test]
fn a_renders_memory_does_not_grow_with_the_song() {
    let dir = demo_with_song(4);
    let short = render_peak_kb(dir.path(), 30);
    // Ten minutes: held in memory, the song alone would take 115 MB.
    let long = render_peak_kb(dir.path(), 600);
    let (_, frames) = wav_frames(&dir.path().join("song.wav"));
    assert!(frames >= 599 * 48000, "{frames}");
    assert!(long < 64 * 1024, "{long} kB");
    assert!(
        long < short + 8 * 1024,
        "{short} kB for 30 s, {long} kB for 600 s"
    );
}

#[test]
fn a_script_without_quit_ends_when_its_notes_have_faded() {
    let dir = demo_with_song(4);
    std::fs::write(
        dir.path().join("notes.txt"),
        "0.5 note-on 60 100\n1.0 note-off 60\n",
    )
    .unwrap();
    let simulate = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "--headless",
            "--settings",
            "demo/settings.json",
            "--script",
            "notes.txt",
            "--wav",
            "take.wav",
        ];
        args.extend_from_slice(extra);
        let output = run(dir.path(), &args);
        assert!(output.status.success(), "{}", stderr(&output));
        wav_frames(&dir.path().join("take.wav"))
    };
    let (spec, frames) = simulate(&[]);
    let seconds = f64::from(frames) / f64::from(spec.sample_rate);
    assert!(
        (1.0..1.0 + open_nsynth::app::SCRIPT_TAIL).contains(&seconds),
        "{seconds} s"
    );
    let (spec, frames) = simulate(&["--duration", "2.5"]);
    let seconds = f64::from(frames) / f64::from(spec.sample_rate);
    assert!(
        (2.5..2.5 + 1.0 / 30.0 + 1e-6).contains(&seconds),
        "{seconds} s"
    );
}

#[test]
fn a_live_recording_stopped_by_a_signal_is_a_finished_wav() {
    let dir = demo_with_song(4);
    for stop in [Signal::SIGINT, Signal::SIGTERM] {
        let mut child = open_nsynth(dir.path())
            .args([
                "simulate",
                "--headless",
                "--settings",
                "demo/settings.json",
                "--wav",
                "live.wav",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_line(&mut child, "ready to play");
        std::thread::sleep(Duration::from_millis(700));
        signal(&child, stop);
        let status = child.wait().unwrap();
        assert!(status.success(), "{stop}: {status}");
        let (spec, frames) = wav_frames(&dir.path().join("live.wav"));
        let seconds = f64::from(frames) / f64::from(spec.sample_rate);
        assert!((0.5..30.0).contains(&seconds), "{stop}: {seconds} s");
        assert!(!names_in(dir.path())
            .iter()
            .any(|name| name.contains("partial")));
    }
}

#[test]
fn run_stops_within_a_second_on_sigterm_with_the_patches_intact() {
    let dir = demo_with_song(4);
    let settings = dir.path().join("demo/settings.json");
    let patch_file = open_nsynth::settings::Settings::from_file(&settings)
        .unwrap()
        .patch_file;
    let mut store = open_nsynth::patch::PatchStore::new(&patch_file);
    store.slots[0] = Some(open_nsynth::patch::Patch {
        instruments: ["demo-flute", "demo-brass", "demo-reed", "demo-bell"].map(String::from),
        ..Default::default()
    });
    store.save().unwrap();
    let saved = std::fs::read(&patch_file).unwrap();
    let mut child = open_nsynth(dir.path())
        .args(["run", "--board", "desktop", "--settings"])
        .arg(PathBuf::from("demo/settings.json"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "ready to play");
    let asked = Instant::now();
    signal(&child, Signal::SIGTERM);
    let status = child.wait().unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(std::fs::read(&patch_file).unwrap(), saved);
}
