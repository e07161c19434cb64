//! Songs sound as live MIDI does: the sustain pedal, pitch bend, mapped control changes and
//! program changes in a MIDI file act in `render` exactly as they do from a keyboard or a
//! controller, and `--instruments` picks the corners a song starts on. Renders of the demo pads,
//! measured.

use std::path::Path;

use midly::num::{u15, u28, u4, u7};
use midly::{num::u14, TrackEventKind};
use midly::{Format, Header, MetaMessage, MidiMessage, PitchBend, Smf, Timing, TrackEvent};
use open_nsynth::engine::Knobs;
use open_nsynth::pad::pad_file_name;
use open_nsynth::patch::{Patch, PatchStore};
use open_nsynth::render::{render, SongOptions, WavFormat};
use open_nsynth::settings::{Instrument, Settings};

/// 1000 ticks a second: 500 per quarter note at the default 120 bpm.
const TICKS_PER_QUARTER: u16 = 500;

/// A one-track song of `(millisecond, message)` events on channel 1.
fn song(events: &[(u32, MidiMessage)]) -> Vec<u8> {
    let mut track = Vec::new();
    let mut now = 0;
    for &(at, message) in events {
        track.push(TrackEvent {
            delta: u28::new(at - now),
            kind: TrackEventKind::Midi {
                channel: u4::new(0),
                message,
            },
        });
        now = at;
    }
    track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let smf = Smf {
        header: Header::new(
            Format::SingleTrack,
            Timing::Metrical(u15::new(TICKS_PER_QUARTER)),
        ),
        tracks: vec![track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).unwrap();
    bytes
}

fn on(note: u8) -> MidiMessage {
    MidiMessage::NoteOn {
        key: u7::new(note),
        vel: u7::new(100),
    }
}

fn off(note: u8) -> MidiMessage {
    MidiMessage::NoteOff {
        key: u7::new(note),
        vel: u7::new(0),
    }
}

fn pedal(down: bool) -> MidiMessage {
    MidiMessage::Controller {
        controller: u7::new(64),
        value: u7::new(if down { 127 } else { 0 }),
    }
}

fn bend(value: u16) -> MidiMessage {
    MidiMessage::PitchBend {
        bend: PitchBend(u14::new(value)),
    }
}

/// The demo's settings in `dir/demo` (written on first use), with rows of 3 s played from their
/// start without loops.
fn demo_settings(dir: &Path) -> Settings {
    let demo = dir.join("demo");
    if !demo.exists() {
        open_nsynth::demo::write_demo(&demo, 48000).unwrap();
    }
    let mut settings = Settings::from_file(&demo.join("settings.json")).unwrap();
    settings.pad.looping = false;
    settings
}

/// Renders `events` on the demo's reed corner (bottom left: odd harmonics, steady, so each period
/// crosses zero once upwards), with rows of 3 s played from their start without loops (so nothing
/// but the pitch moves a zero crossing), and returns the left channel and the rate.
fn rendered(dir: &Path, events: &[(u32, MidiMessage)]) -> (Vec<f32>, u32) {
    let options = SongOptions {
        grid: (0.0, 1.0),
        knobs: Knobs {
            position: 0.0,
            ..Knobs::default()
        },
        ..SongOptions::default()
    };
    rendered_with(&demo_settings(dir), &options, events).unwrap()
}

/// Renders `events` with `settings` and `options`; the left channel and the rate.
fn rendered_with(
    settings: &Settings,
    options: &SongOptions,
    events: &[(u32, MidiMessage)],
) -> anyhow::Result<(Vec<f32>, u32)> {
    let dir = settings.file.parent().unwrap();
    let midi = dir.join("song.mid");
    std::fs::write(&midi, song(events)).unwrap();
    let out = dir.join("song.wav");
    render(settings, &midi, &out, options, WavFormat::Float32)?;
    let mut reader = hound::WavReader::open(&out).unwrap();
    let rate = reader.spec().sample_rate;
    let left = reader
        .samples::<f32>()
        .step_by(2)
        .map(Result::unwrap)
        .collect();
    Ok((left, rate))
}

/// Seconds until the last sample louder than -60 dBFS.
fn sounding_seconds(samples: &[f32], rate: u32) -> f64 {
    let last = samples.iter().rposition(|s| s.abs() > 1e-3).unwrap_or(0);
    last as f64 / f64::from(rate)
}

/// Frequency from the rising zero crossings between `from` and `to` seconds.
fn frequency(samples: &[f32], rate: u32, from: f64, to: f64) -> f64 {
    let window = &samples[(from * f64::from(rate)) as usize..(to * f64::from(rate)) as usize];
    let crossings: Vec<f64> = window
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| pair[0] < 0.0 && pair[1] >= 0.0)
        .map(|(i, pair)| i as f64 + f64::from(-pair[0] / (pair[1] - pair[0])))
        .collect();
    let (first, last) = (crossings[0], crossings[crossings.len() - 1]);
    (crossings.len() - 1) as f64 / ((last - first) / f64::from(rate))
}

#[test]
fn the_pedal_holds_a_released_note_until_it_lifts() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, rate) = rendered(dir.path(), &[(0, on(60)), (500, off(60))]);
    let (held, _) = rendered(
        dir.path(),
        &[
            (0, on(60)),
            (250, pedal(true)),
            (500, off(60)),
            (1500, pedal(false)),
        ],
    );
    let lengthened = sounding_seconds(&held, rate) - sounding_seconds(&plain, rate);
    assert!(
        (lengthened - 1.0).abs() < 0.05,
        "the pedal held the note {lengthened} s longer, not 1 s"
    );
}

#[test]
fn a_full_bend_up_raises_the_pitch_by_the_bend_range_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, rate) = rendered(dir.path(), &[(0, on(60)), (1500, off(60))]);
    let (bent, _) = rendered(
        dir.path(),
        &[
            (0, on(60)),
            (500, bend(16383)),
            (1000, bend(8192)),
            (1500, off(60)),
        ],
    );
    let natural = frequency(&plain, rate, 0.2, 0.45);
    let cents = |f: f64| 1200.0 * (f / natural).log2();
    let up = cents(frequency(&bent, rate, 0.6, 0.95));
    let back = cents(frequency(&bent, rate, 1.1, 1.45));
    assert!(
        (up - 200.0).abs() < 5.0,
        "bent up {up} cents from {natural} Hz"
    );
    assert!(back.abs() < 5.0, "back at {back} cents");
}

fn control(controller: u8, value: u8) -> MidiMessage {
    MidiMessage::Controller {
        controller: u7::new(controller),
        value: u7::new(value),
    }
}

fn program(program: u8) -> MidiMessage {
    MidiMessage::ProgramChange {
        program: u7::new(program),
    }
}

/// Steady notes at full level: no attack, decay or release time, full sustain and volume, played
/// from the start of the row, at `grid`.
fn open_options(grid: (f32, f32)) -> SongOptions {
    SongOptions {
        grid,
        knobs: Knobs {
            position: 0.0,
            attack: 0.0,
            decay: 0.0,
            sustain: 1.0,
            release: 0.0,
            volume: 1.0,
        },
        ..SongOptions::default()
    }
}

fn window(samples: &[f32], rate: u32, from: f64, to: f64) -> &[f32] {
    &samples[(from * f64::from(rate)) as usize..(to * f64::from(rate)) as usize]
}

fn rms(samples: &[f32], rate: u32, from: f64, to: f64) -> f64 {
    let window = window(samples, rate, from, to);
    let sum: f64 = window.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / window.len() as f64).sqrt()
}

/// The largest difference between two renders over `from`–`to` seconds.
fn largest_difference(a: &[f32], b: &[f32], rate: u32, from: f64, to: f64) -> f32 {
    window(a, rate, from, to)
        .iter()
        .zip(window(b, rate, from, to))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_volume_controller_ramps_the_output_level() {
    let dir = tempfile::tempdir().unwrap();
    let settings = demo_settings(dir.path());
    let steps = [0u8, 32, 64, 96, 127];
    let mut events = vec![(0, on(60))];
    events.extend(
        steps
            .iter()
            .enumerate()
            .map(|(i, &value)| (i as u32 * 400, control(7, value))),
    );
    events.push((2000, off(60)));
    let (left, rate) = rendered_with(&settings, &open_options((0.0, 1.0)), &events).unwrap();
    let levels: Vec<f64> = (0..steps.len())
        .map(|i| {
            let start = i as f64 * 0.4;
            rms(&left, rate, start + 0.1, start + 0.35)
        })
        .collect();
    assert!(levels[0] < 1e-6, "CC 7 = 0 is silence: {levels:?}");
    assert!(
        levels.windows(2).all(|pair| pair[1] > pair[0]),
        "each step louder: {levels:?}"
    );
    // CC 127 and CC 64 are knob values 255 and 129 of 255.
    let ratio = levels[4] / levels[2];
    assert!((ratio - 255.0 / 129.0).abs() < 0.02, "127 over 64: {ratio}");
}

/// Three notes, at 0, 0.4 and 0.8 s, each held 0.3 s, with `between` before the second and the
/// third (a note already sounding keeps the point it started on, as on the device).
fn three_notes(between: [MidiMessage; 2]) -> Vec<(u32, MidiMessage)> {
    vec![
        (0, on(60)),
        (300, off(60)),
        (350, between[0]),
        (400, on(60)),
        (700, off(60)),
        (750, between[1]),
        (800, on(60)),
        (1100, off(60)),
    ]
}

/// Note windows of [`three_notes`], from after the attack until the note ends, in seconds.
const NOTES: [(f64, f64); 3] = [(0.05, 0.3), (0.45, 0.7), (0.85, 1.1)];

#[test]
fn grid_x_from_0_to_127_moves_from_one_corner_timbre_to_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let settings = demo_settings(dir.path());
    // CC 16 is gridX, across the bottom row from the reed (0) to the bell (127).
    let swept = three_notes([control(16, 64), control(16, 127)]);
    let mut start = swept.clone();
    start.insert(0, (0, control(16, 0)));
    let (moved, rate) = rendered_with(&settings, &open_options((0.5, 1.0)), &start).unwrap();
    // The same notes with the grid fixed at each position.
    let still = three_notes([control(1, 0), control(1, 0)]);
    let fixed = |x| {
        rendered_with(&settings, &open_options((x, 1.0)), &still)
            .unwrap()
            .0
    };
    let references = [fixed(0.0), fixed(0.5), fixed(1.0)];
    let (from, to) = NOTES[2];
    assert!(
        largest_difference(&references[0], &references[2], rate, from, to) > 0.05,
        "the corners sound different"
    );
    for (reference, (from, to)) in references.iter().zip(NOTES) {
        let difference = largest_difference(&moved, reference, rate, from, to);
        assert!(difference < 1e-4, "{from}–{to} s: {difference}");
    }
}

#[test]
fn a_program_change_in_a_song_loads_that_patch() {
    let dir = tempfile::tempdir().unwrap();
    let settings = demo_settings(dir.path());
    let mut patches = PatchStore::new(settings.patch_file.clone());
    patches.slots[1] = Some(Patch {
        position: 0.0,
        attack: 0.0,
        decay: 0.0,
        sustain: 1.0,
        release: 0.0,
        instruments: ["demo-flute", "demo-brass", "demo-reed", "demo-bell"].map(String::from),
        grid: [1.0, 1.0],
    });
    patches.save().unwrap();
    // Program 1 is patch 2, at the bell's corner; program 9 loads nothing.
    let changed = three_notes([program(9), program(1)]);
    let (song, rate) = rendered_with(&settings, &open_options((0.0, 1.0)), &changed).unwrap();
    let still = three_notes([control(1, 0), control(1, 0)]);
    let (reed, _) = rendered_with(&settings, &open_options((0.0, 1.0)), &still).unwrap();
    let (bell, _) = rendered_with(&settings, &open_options((1.0, 1.0)), &still).unwrap();
    let [_, (from, to), (last_from, last_to)] = NOTES;
    assert!(largest_difference(&song, &reed, rate, from, to) < 1e-4);
    assert!(largest_difference(&song, &bell, rate, last_from, last_to) < 1e-4);
    assert!(largest_difference(&reed, &bell, rate, last_from, last_to) > 0.05);
}

#[test]
fn instruments_choose_the_corners_a_song_starts_on_and_corner_controllers_switch_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = demo_settings(dir.path());
    // A second top-left instrument: the demo pad at half the level.
    let demo = settings.file.parent().unwrap().to_path_buf();
    let names = ["demo-flute", "demo-brass", "demo-reed", "demo-bell"];
    let quiet_names = ["demo-quiet", "demo-brass", "demo-reed", "demo-bell"];
    let pad = std::fs::read(demo.join(pad_file_name(&names))).unwrap();
    let halved: Vec<u8> = pad
        .chunks_exact(2)
        .flat_map(|s| (i16::from_le_bytes([s[0], s[1]]) / 2).to_le_bytes())
        .collect();
    std::fs::write(demo.join(pad_file_name(&quiet_names)), halved).unwrap();
    settings.corners[0].push(Instrument {
        name: "demo-quiet".into(),
        display: "Quiet".into(),
        abbr: "QU".into(),
    });

    let held = [(0, on(60)), (1000, off(60))];
    let (loud, rate) = rendered_with(&settings, &open_options((0.0, 0.0)), &held).unwrap();
    let chosen = SongOptions {
        instruments: Some(quiet_names.map(String::from)),
        ..open_options((0.0, 0.0))
    };
    let (quiet, _) = rendered_with(&settings, &chosen, &held).unwrap();
    let ratio = rms(&quiet, rate, 0.1, 0.9) / rms(&loud, rate, 0.1, 0.9);
    assert!(
        (ratio - 0.5).abs() < 0.01,
        "the quiet pad from the start: {ratio}"
    );

    // CC 80 is corner 1: 127 is the last of its two instruments.
    let switched = [(0, on(60)), (500, control(80, 127)), (1000, off(60))];
    let (switched, _) = rendered_with(&settings, &open_options((0.0, 0.0)), &switched).unwrap();
    assert!(largest_difference(&switched, &loud, rate, 0.1, 0.45) < 1e-4);
    assert!(largest_difference(&switched, &quiet, rate, 0.6, 0.9) < 1e-4);

    let unknown = SongOptions {
        instruments: Some(["oboe", "demo-brass", "demo-reed", "demo-bell"].map(String::from)),
        ..open_options((0.0, 0.0))
    };
    let error = rendered_with(&settings, &unknown, &held).unwrap_err();
    assert_eq!(
        error.to_string(),
        "corner 1 has no instrument named `oboe`; its instruments: demo-flute, demo-quiet"
    );
}
