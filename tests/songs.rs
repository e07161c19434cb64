//! Songs sound as live MIDI does: the sustain pedal and pitch bend in a MIDI file act in `render`
//! exactly as they do from a keyboard. Renders of the demo pads, measured.

use std::path::Path;

use midly::num::{u15, u28, u4, u7};
use midly::{num::u14, TrackEventKind};
use midly::{Format, Header, MetaMessage, MidiMessage, PitchBend, Smf, Timing, TrackEvent};
use open_nsynth::engine::Knobs;
use open_nsynth::render::{render, SongOptions, WavFormat};
use open_nsynth::settings::Settings;

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

/// Renders `events` on the demo's reed corner (bottom left: odd harmonics, steady, so each period
/// crosses zero once upwards), with rows of 3 s played from their start without loops (so nothing
/// but the pitch moves a zero crossing), and returns the left channel and the rate.
fn rendered(dir: &Path, events: &[(u32, MidiMessage)]) -> (Vec<f32>, u32) {
    let demo = dir.join("demo");
    if !demo.exists() {
        open_nsynth::demo::write_demo(&demo, 48000).unwrap();
    }
    let mut settings = Settings::from_file(&demo.join("settings.json")).unwrap();
    settings.pad.looping = false;
    let midi = dir.join("song.mid");
    std::fs::write(&midi, song(events)).unwrap();
    let out = dir.join("song.wav");
    let options = SongOptions {
        grid: (0.0, 1.0),
        knobs: Knobs {
            position: 0.0,
            ..Knobs::default()
        },
        ..SongOptions::default()
    };
    render(&settings, &midi, &out, &options, WavFormat::Float32).unwrap();
    let mut reader = hound::WavReader::open(&out).unwrap();
    let rate = reader.spec().sample_rate;
    let left = reader
        .samples::<f32>()
        .step_by(2)
        .map(Result::unwrap)
        .collect();
    (left, rate)
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
