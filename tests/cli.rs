//! End-to-end runs of the `open-nsynth` binary: the demo, renders, and the errors users see.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn open_nsynth(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_open-nsynth"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A folder with the demo (short rows, to keep the test quick).
fn demo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let output = open_nsynth(&["demo", "--dir", "demo", "--length", "4000"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let demo = dir.path().join("demo");
    (dir, demo)
}

fn render(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "render",
        "--settings",
        "demo/settings.json",
        "--midi",
        "demo/demo.mid",
    ];
    args.extend_from_slice(extra);
    open_nsynth(&args, dir)
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let samples = reader.samples::<i16>().map(Result::unwrap).collect();
    (reader.spec(), samples)
}

#[test]
fn the_demo_renders_to_a_deterministic_stereo_wav() {
    let (dir, demo) = demo();
    assert!(demo
        .join("demo-flute_demo-brass_demo-reed_demo-bell.bin")
        .exists());
    let first = render(dir.path(), &["--out", "a.wav"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("44 notes"));
    let second = render(dir.path(), &["--out", "b.wav"]);
    assert!(second.status.success());
    let a = std::fs::read(dir.path().join("a.wav")).unwrap();
    assert_eq!(
        a,
        std::fs::read(dir.path().join("b.wav")).unwrap(),
        "same input, same bytes"
    );

    let (spec, samples) = read_wav(&dir.path().join("a.wav"));
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 48000, 16)
    );
    assert!(
        samples.chunks(2).all(|frame| frame[0] == frame[1]),
        "both channels carry the mono mix"
    );
    let seconds = samples.len() as f32 / 2.0 / 48000.0;
    assert!((8.0..12.0).contains(&seconds), "{seconds} s");
    // Sound during every second of the song, not just somewhere.
    for second in samples.chunks(96000).take(8) {
        assert!(second.iter().any(|&s| s.unsigned_abs() > 1000));
    }
}

#[test]
fn grid_and_knobs_change_the_sound_and_float_output_is_offered() {
    let (dir, _demo) = demo();
    render(dir.path(), &["--out", "centre.wav"]);
    let corner = render(
        dir.path(),
        &[
            "--out",
            "corner.wav",
            "--grid",
            "0,0",
            "--volume",
            "1",
            "--attack",
            "0",
        ],
    );
    assert!(corner.status.success(), "{}", stderr(&corner));
    let (_, centre) = read_wav(&dir.path().join("centre.wav"));
    let (_, corner) = read_wav(&dir.path().join("corner.wav"));
    assert_ne!(centre, corner);
    let float = render(dir.path(), &["--out", "f.wav", "--format", "float32"]);
    assert!(float.status.success());
    let reader = hound::WavReader::open(dir.path().join("f.wav")).unwrap();
    assert_eq!(reader.spec().sample_format, hound::SampleFormat::Float);
}

#[test]
fn grid_interpolation_blends_between_grid_points() {
    let (dir, demo) = demo();
    let between = ["--grid", "0.3,0.3"];
    render(
        dir.path(),
        &[&["--out", "nearest.wav"][..], &between].concat(),
    );
    let settings = std::fs::read_to_string(demo.join("settings.json")).unwrap();
    let blended = settings.replacen(
        "\"nsynth\"",
        "\"engine\": {\"gridInterpolation\": true},\n  \"nsynth\"",
        1,
    );
    std::fs::write(demo.join("settings.json"), blended).unwrap();
    render(
        dir.path(),
        &[&["--out", "blended.wav"][..], &between].concat(),
    );
    // On a grid point the blend is that point alone, so both settings sound the same there.
    render(
        dir.path(),
        &["--out", "on-point.wav", "--grid", "0.25,0.25"],
    );
    std::fs::write(demo.join("settings.json"), settings).unwrap();
    render(
        dir.path(),
        &["--out", "on-point-nearest.wav", "--grid", "0.25,0.25"],
    );
    let wav = |name: &str| read_wav(&dir.path().join(name)).1;
    assert_ne!(wav("nearest.wav"), wav("blended.wav"));
    assert_eq!(wav("on-point.wav"), wav("on-point-nearest.wav"));
}

#[test]
fn a_truncated_pad_is_refused_with_both_sizes() {
    let (dir, demo) = demo();
    let pad = demo.join("demo-flute_demo-brass_demo-reed_demo-bell.bin");
    let file = std::fs::OpenOptions::new().write(true).open(&pad).unwrap();
    file.set_len(1000).unwrap();
    let output = render(dir.path(), &["--out", "x.wav"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("is 1000 bytes") && message.contains("exactly 10368000 bytes"),
        "{message}"
    );
    assert!(
        !dir.path().join("x.wav").exists(),
        "no WAV that looks complete"
    );
}

#[test]
fn bad_settings_name_the_key_and_exit_non_zero() {
    let (dir, demo) = demo();
    let settings = std::fs::read_to_string(demo.join("settings.json")).unwrap();
    let cases = [
        (r#""loopEnd": 0.41"#, r#""loopEnd": 0.1"#, "nsynth.loopEnd"),
        (
            r#""resolution": 9"#,
            r#""resolution": 0"#,
            "nsynth.resolution",
        ),
        (r#""length": 4000"#, r#""length": "long""#, "nsynth.length"),
    ];
    for (from, to, key) in cases {
        std::fs::write(demo.join("settings.json"), settings.replace(from, to)).unwrap();
        let output = render(dir.path(), &["--out", "x.wav"]);
        assert_eq!(output.status.code(), Some(1));
        let message = stderr(&output);
        assert!(
            message.contains(key) && message.contains("settings.json"),
            "{message}"
        );
    }
    let empty = regex_free_replace(&settings, "\"pitches\": [", "]", "\"pitches\": []");
    std::fs::write(demo.join("settings.json"), empty).unwrap();
    let output = render(dir.path(), &["--out", "x.wav"]);
    assert!(
        stderr(&output).contains("nsynth.pitches"),
        "{}",
        stderr(&output)
    );
}

/// Replaces the text from `start` up to and including the next `end` with `with`.
fn regex_free_replace(text: &str, start: &str, end: &str, with: &str) -> String {
    let from = text.find(start).unwrap();
    let to = from + text[from..].find(end).unwrap() + end.len();
    format!("{}{with}{}", &text[..from], &text[to..])
}

#[test]
fn a_broken_midi_file_is_reported() {
    let (dir, demo) = demo();
    let song = std::fs::read(demo.join("demo.mid")).unwrap();
    std::fs::write(demo.join("demo.mid"), &song[..song.len() - 20]).unwrap();
    let output = render(dir.path(), &["--out", "x.wav"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("demo.mid"), "{}", stderr(&output));
}

#[test]
fn knob_values_outside_0_1_are_refused() {
    let (dir, _demo) = demo();
    let output = render(dir.path(), &["--out", "x.wav", "--volume", "1.5"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--volume 1.5 is outside 0–1"));
    let output = render(dir.path(), &["--out", "x.wav", "--grid", "2,0"]);
    assert!(!output.status.success());
}

#[test]
fn settings_are_found_the_original_way() {
    let (dir, demo) = demo();
    let output = open_nsynth(&["render", "--midi", "demo.mid", "--out", "x.wav"], &demo);
    assert!(output.status.success(), "{}", stderr(&output));
    let nowhere = tempfile::tempdir().unwrap();
    let output = open_nsynth(
        &["render", "--midi", "demo.mid", "--out", "x.wav"],
        nowhere.path(),
    );
    assert!(
        stderr(&output).contains("localSettings.json and settings.json"),
        "{}",
        stderr(&output)
    );
    drop(dir);
}

/// Runs `play` on the demo with `asoundrc` as the user's ALSA configuration.
#[cfg(feature = "device")]
fn play_with_alsa_config(dir: &Path, asoundrc: &str) -> Output {
    std::fs::write(dir.join(".asoundrc"), asoundrc).unwrap();
    Command::new(env!("CARGO_BIN_EXE_open-nsynth"))
        .args([
            "play",
            "--settings",
            "demo/settings.json",
            "--midi",
            "demo/demo.mid",
        ])
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .unwrap()
}

/// `play` through the real audio path into ALSA's `file` plugin (no sound card needed): the
/// callback runs the engine and the song comes out.
#[cfg(feature = "device")]
#[test]
fn play_sends_the_song_through_the_sound_card_path() {
    let (dir, _demo) = demo();
    let capture = dir.path().join("captured.raw");
    let asoundrc = format!(
        "pcm.!default {{\n type file\n slave.pcm \"null\"\n file \"{}\"\n format \"raw\"\n}}\n",
        capture.display()
    );
    let output = play_with_alsa_config(dir.path(), &asoundrc);
    assert!(output.status.success(), "{}", stderr(&output));
    let bytes = std::fs::read(&capture).unwrap();
    // Stereo 32-bit float frames, both channels equal, well over the song's 9 s.
    let samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert!(
        samples.len() / 2 > 9 * 48000,
        "{} frames",
        samples.len() / 2
    );
    assert!(samples.chunks_exact(2).all(|f| f[0] == f[1]));
    let peak = samples.iter().fold(0.0f32, |p, s| p.max(s.abs()));
    assert!(peak > 0.05 && peak < 1.0, "peak {peak}");
}

#[cfg(feature = "device")]
#[test]
fn play_without_a_sound_card_says_so() {
    let (dir, _demo) = demo();
    let output = play_with_alsa_config(dir.path(), "pcm.!default { type hw card 99 }\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("error: playing demo/demo.mid: audio device"),
        "{}",
        stderr(&output)
    );
}
