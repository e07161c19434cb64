//! The built-in demo: four synthetic instruments (one per corner) blended across the real 9×9
//! grid at the shipped 16 pitches, the matching settings file, and a short song. Generated on
//! demand so that a user with no NSynth pads can play something at once.

use std::f64::consts::TAU;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use crate::pad::{pad_file_name, PadLayout};
use crate::settings::{settings_for_pads, Instrument};

/// Pad sample rate of the demo, as NSynth pads.
const SOURCE_RATE: u32 = 16000;
/// Row peak: −12 dB, as the original pipeline normalises.
const PEAK: f64 = 0.251 * 32767.0;

/// The four corner instruments, in settings order: top-left, top-right, bottom-left, bottom-right.
const CORNERS: [(&str, &str, &str); 4] = [
    ("demo-flute", "Flute", "FL"),
    ("demo-brass", "Brass", "BR"),
    ("demo-reed", "Reed", "RE"),
    ("demo-bell", "Bell", "BE"),
];

/// What `write_demo` made.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoFiles {
    pub settings: PathBuf,
    pub pad: PathBuf,
    pub song: PathBuf,
}

/// The demo pad's layout: the shipped grid and pitches, rows of `length` samples.
pub fn demo_layout(length: usize) -> PadLayout {
    PadLayout {
        resolution: 9,
        pitches: (24..=84).step_by(4).collect(),
        length,
    }
}

/// The longest demo row: the largest a pad of the demo's layout can have in the memory the
/// device keeps for pads ([`crate::limits::PAD_BYTES`]).
pub fn max_length() -> usize {
    let row_bytes = demo_layout(1).rows() as u64 * crate::pad::BYTES_PER_SAMPLE;
    (crate::limits::PAD_BYTES / row_bytes) as usize
}

/// Writes the demo pad, `settings.json` and `demo.mid` into `dir` (created if needed), each
/// atomically; `length` samples per row, from [`crate::limits::DEMO_MIN_ROW`] to
/// [`max_length`].
pub fn write_demo(dir: &Path, length: usize) -> anyhow::Result<DemoFiles> {
    let (shortest, longest) = (crate::limits::DEMO_MIN_ROW, max_length());
    if !(shortest..=longest).contains(&length) {
        anyhow::bail!(
            "--length {length} is outside {shortest}–{longest} samples per row (the largest a \
             pad of the demo's layout can have in the {} MiB the device keeps for pads)",
            crate::limits::PAD_BYTES >> 20
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let layout = demo_layout(length);
    let names = CORNERS.map(|(name, _, _)| name);
    let pad = dir.join(pad_file_name(&names));
    let settings = dir.join("settings.json");
    let song = dir.join("demo.mid");
    write_file(&pad, &pad_bytes(&layout))?;
    write_file(&settings, settings_json(&layout).as_bytes())?;
    write_file(&song, &song_bytes())?;
    Ok(DemoFiles {
        settings,
        pad,
        song,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::atomic::write_bytes(path, bytes, Default::default())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// All rows of the pad: each grid point blends the four corner instruments bilinearly.
pub fn pad_bytes(layout: &PadLayout) -> Vec<u8> {
    let corner_rows: Vec<[Vec<f64>; 4]> = layout
        .pitches
        .iter()
        .map(|&pitch| std::array::from_fn(|corner| instrument_row(corner, pitch, layout.length)))
        .collect();
    let span = (layout.resolution - 1).max(1) as f64;
    let mut bytes = Vec::with_capacity(layout.file_bytes() as usize);
    for yi in 0..layout.resolution {
        for xi in 0..layout.resolution {
            let (x, y) = (xi as f64 / span, yi as f64 / span);
            let weights = [(1.0 - x) * (1.0 - y), x * (1.0 - y), (1.0 - x) * y, x * y];
            for rows in &corner_rows {
                let [a, b, c, d] = rows;
                for (((a, b), c), d) in a.iter().zip(b).zip(c).zip(d) {
                    let value = a * weights[0] + b * weights[1] + c * weights[2] + d * weights[3];
                    bytes.extend((value.round() as i16).to_le_bytes());
                }
            }
        }
    }
    bytes
}

/// One corner instrument at one pitch: onset 16 samples in with an 8-sample fade-in (as pipeline
/// rows are aligned), 8-sample fade-out at the end, peak at −12 dB.
fn instrument_row(corner: usize, pitch: u8, length: usize) -> Vec<f64> {
    let frequency = 440.0 * 2f64.powf((f64::from(pitch) - 69.0) / 12.0);
    let nyquist = f64::from(SOURCE_RATE) / 2.0 * 0.9;
    let mut row: Vec<f64> = (0..length)
        .map(|i| {
            let t = i.saturating_sub(16) as f64 / f64::from(SOURCE_RATE);
            // (frequency ratio, amplitude, decay per second) of each partial.
            let partial = |ratio: f64, amplitude: f64, decay: f64| {
                let f = frequency * ratio;
                if f >= nyquist {
                    0.0
                } else {
                    amplitude * (-decay * t).exp() * (TAU * f * t).sin()
                }
            };
            let vibrato = 1.0 + 0.004 * (TAU * 5.0 * t).sin();
            let swell = 1.0 - (-t * 20.0).exp();
            match corner {
                0 => {
                    swell
                        * (partial(vibrato, 1.0, 0.0)
                            + partial(2.0 * vibrato, 0.12, 0.0)
                            + partial(3.0, 0.04, 0.0))
                }
                1 => {
                    swell
                        * (1..=12)
                            .map(|k| partial(k as f64, 1.0 / k as f64, 0.15 * k as f64))
                            .sum::<f64>()
                }
                2 => {
                    swell
                        * (1..=12)
                            .step_by(2)
                            .map(|k| partial(k as f64, 1.0 / k as f64, 0.0))
                            .sum::<f64>()
                }
                _ => [
                    (1.0, 1.0, 1.2),
                    (2.76, 0.5, 2.0),
                    (5.40, 0.25, 3.5),
                    (8.93, 0.12, 5.0),
                ]
                .iter()
                .map(|&(ratio, amplitude, decay)| partial(ratio, amplitude, decay))
                .sum(),
            }
        })
        .collect();
    row.iter_mut().take(16).for_each(|s| *s = 0.0);
    for k in 0..8.min(length) {
        let gain = k as f64 / 8.0;
        if 16 + k < length {
            row[16 + k] *= gain;
        }
        row[length - 1 - k] *= gain;
    }
    let peak = row
        .iter()
        .fold(0.0f64, |peak, s| peak.max(s.abs()))
        .max(1e-9);
    row.iter().map(|s| s / peak * PEAK).collect()
}

/// Settings for the demo pad, in the original schema, pads next to the file.
fn settings_json(layout: &PadLayout) -> String {
    let corners = CORNERS.map(|(name, display, abbr)| {
        vec![Instrument {
            name: name.into(),
            display: display.into(),
            abbr: abbr.into(),
        }]
    });
    let mut settings = settings_for_pads("", layout, SOURCE_RATE, &corners);
    settings["patchFile"] = "patches.json".into();
    settings["board"] = "desktop".into();
    serde_json::to_string_pretty(&settings).expect("a JSON value always serialises") + "\n"
}

/// A short format-1 song: a tempo track with one tempo change and a track of chords and an
/// arpeggio on MIDI channel 1.
pub fn song_bytes() -> Vec<u8> {
    const TICKS: u16 = 480;
    let meta = |delta: u32, message| TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Meta(message),
    };
    let tempo = vec![
        meta(0, MetaMessage::Tempo(u24::new(500_000))),
        meta(u32::from(TICKS) * 8, MetaMessage::Tempo(u24::new(600_000))),
        meta(0, MetaMessage::EndOfTrack),
    ];
    // (start in eighths, length in eighths, note, velocity)
    let mut notes: Vec<(u32, u32, u8, u8)> = Vec::new();
    let chords: [[u8; 3]; 4] = [[48, 52, 55], [45, 48, 52], [41, 45, 48], [43, 47, 50]];
    for (bar, chord) in chords.iter().enumerate() {
        let start = bar as u32 * 8;
        for &note in chord {
            notes.push((start, 7, note, 80));
        }
        for (k, &index) in [0usize, 1, 2, 1, 0, 1, 2, 1].iter().enumerate() {
            notes.push((start + k as u32, 1, chord[index] + 12, 100));
        }
    }
    let mut timed: Vec<(u32, MidiMessage)> = Vec::new();
    for (start, length, note, velocity) in notes {
        let tick = |eighths: u32| eighths * u32::from(TICKS) / 2;
        timed.push((
            tick(start),
            MidiMessage::NoteOn {
                key: u7::new(note),
                vel: u7::new(velocity),
            },
        ));
        // Note-offs as velocity-0 note-ons, so the writer can use running status.
        timed.push((
            tick(start + length) - 10,
            MidiMessage::NoteOn {
                key: u7::new(note),
                vel: u7::new(0),
            },
        ));
    }
    timed.sort_by_key(|(tick, message)| {
        (
            *tick,
            matches!(message, MidiMessage::NoteOn { vel, .. } if vel.as_int() > 0),
        )
    });
    let mut track = Vec::new();
    let mut now = 0;
    for (tick, message) in timed {
        track.push(TrackEvent {
            delta: u28::new(tick - now),
            kind: TrackEventKind::Midi {
                channel: u4::new(0),
                message,
            },
        });
        now = tick;
    }
    track.push(meta(0, MetaMessage::EndOfTrack));
    let smf = Smf {
        header: Header::new(Format::Parallel, Timing::Metrical(u15::new(TICKS))),
        tracks: vec![tempo, track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .expect("writing to memory cannot fail");
    bytes
}

/// A plain song `seconds` long, for measuring long renders: a note every 2 s, held 1.5 s,
/// climbing through two octaves. One track at 120 bpm.
pub fn long_song_bytes(seconds: u32) -> Vec<u8> {
    const TICKS: u16 = 480;
    /// Ticks per second at the default 120 bpm.
    const PER_SECOND: u32 = 2 * TICKS as u32;
    let mut track = Vec::new();
    let mut now = 0;
    for (i, start) in (0..seconds.saturating_sub(1)).step_by(2).enumerate() {
        let key = u7::new(48 + (i % 24) as u8);
        for (at, vel) in [
            (start * PER_SECOND, 100),
            (start * PER_SECOND + PER_SECOND * 3 / 2, 0),
        ] {
            track.push(TrackEvent {
                delta: u28::new(at - now),
                kind: TrackEventKind::Midi {
                    channel: u4::new(0),
                    message: MidiMessage::NoteOn {
                        key,
                        vel: u7::new(vel),
                    },
                },
            });
            now = at;
        }
    }
    track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let smf = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(TICKS))),
        tracks: vec![track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .expect("writing to memory cannot fail");
    bytes
}
