//! Step 06 of the original pipeline (spec §7.7) and the device side of its output: aligns each
//! cleaned note to its onset, writes pad files in exactly the layout the device reads
//! (`open_nsynth::pad`: rows `(yi·R + xi)·P + p`, 16-bit little-endian, `length` samples each,
//! named `c0_c1_c2_c3.bin` in device corner order), and writes the device `settings.json` that
//! lists those corners; `build_pads` does both in a work folder, each file with its record, and
//! reuses pads whose record matches. A pad that needs a skipped recording is not written (and an
//! older one is removed). Files are written atomically; nothing here generates or cleans sound.
//!
//! Device corner order is top-left, top-right, bottom-left, bottom-right, which is the original
//! settings' `NW`, `NE`, `SE`, `SW` (see `config` for why `SE` is bottom-left).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use open_nsynth::atomic::write_atomically;
use open_nsynth::pad::{pad_file_name, pad_state, PadLayout, PadState};
use open_nsynth::settings::settings_for_pads;
use rayon::prelude::*;

use super::config::PipelineConfig;
use super::grid::{PadPlan, Plan};
use super::inputs::RunInputs;
use super::provenance::{remove_with_record, verdict, write_record, RecordError, Tally};
use super::workdir::{Workdir, DEVICE_SETTINGS_FILE};
use crate::audio::{read_mono_16k, AudioError, SAMPLE_RATE};
use crate::progress::Progress;

/// Where the onset is looked for: the first 0.25 s, as the original's `post_process` intends.
/// Its caller passed `final_length` into the `onset_search` parameter, so the original searched
/// the whole note (threshold: 10 % of the global peak) and always cut rows to 60000 samples;
/// here the window is the intended one and rows have the settings' `final_length`.
pub const ONSET_SEARCH_SAMPLES: usize = SAMPLE_RATE as usize / 4;

/// Samples kept before the onset.
const WALK_ONSET_BACK: usize = 16;

/// Length of the linear fade-in and fade-out.
const FADE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PadError {
    #[error("cannot build pad {pad}: {cause}")]
    Row { pad: PathBuf, cause: AudioError },
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: io::Error },
    #[error(
        "{path} is {found} bytes, but a pad of these settings (resolution, pitches, \
         final_length) is {expected}: it was built with other settings; move it away or delete \
         it to build it again"
    )]
    WrongSize {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// What the pads step did.
#[derive(Debug, Default)]
pub(super) struct PadsReport {
    /// Pads written, written again and reused.
    pub tally: Tally,
    /// The file names of the pads that need a skipped recording.
    pub cannot: Vec<String>,
}

/// The step: every pad of `plan` whose file cannot be reused (with `force`, all), several at a
/// time, then the device settings. A pad that would be reused but has the wrong size for the
/// settings is an error.
pub(super) fn build_pads(
    config: &PipelineConfig,
    plan: &Plan,
    dirs: &Workdir,
    inputs: &RunInputs<'_>,
    force: bool,
    progress: &Progress,
) -> Result<PadsReport, PadError> {
    let mut report = PadsReport::default();
    let mut todo = Vec::new();
    for pad in &plan.pads {
        let name = pad_file_name(&pad.corners);
        let path = dirs.pads.join(&name);
        let Some(record) = inputs.pad(pad) else {
            if path.exists() {
                tracing::warn!(
                    "removing {}: it needs a recording that was skipped",
                    path.display()
                );
                remove_with_record(&path);
            }
            report.cannot.push(name);
            continue;
        };
        let verdict = verdict(&path, &record, force);
        if verdict.is_work() {
            todo.push((pad, path, record));
        } else if let PadState::WrongSize { found, expected } = pad_state(&path, &config.layout) {
            return Err(PadError::WrongSize {
                path,
                found,
                expected,
            });
        }
        report.tally.count(&verdict);
    }
    let bar = progress.bar("pads", todo.len() as u64, "pads");
    let note_of = |sound: usize| dirs.cleaned(&plan.sounds[sound]);
    todo.par_iter().try_for_each(|(pad, path, record)| {
        write_pad(path, pad, &config.layout, &note_of)?;
        write_record(path, record)?;
        bar.inc(1);
        Ok::<_, PadError>(())
    })?;
    bar.finish_and_clear();
    let settings = dirs.pads.join(DEVICE_SETTINGS_FILE);
    write_device_settings(&settings, config)?;
    write_record(&settings, &inputs.settings())?;
    Ok(report)
}

/// The original's `post_process`: finds the onset (the first sample above 10 % of the peak of
/// the search window), starts 16 samples before it, crops or zero-pads to `length`, fades the
/// first and last 8 samples linearly, and truncates back to 16-bit.
pub fn post_process(audio: &[i16], length: usize) -> Vec<i16> {
    let window = &audio[..audio.len().min(ONSET_SEARCH_SAMPLES)];
    let peak = window
        .iter()
        .map(|s| f64::from(*s).abs())
        .fold(0.0, f64::max);
    let threshold = 0.1 * peak;
    let onset = window
        .iter()
        .position(|s| f64::from(*s).abs() > threshold)
        .unwrap_or(0)
        .saturating_sub(WALK_ONSET_BACK);
    let mut row: Vec<f64> = audio[onset..]
        .iter()
        .take(length)
        .map(|&s| f64::from(s))
        .collect();
    row.resize(length, 0.0);
    // `np.linspace(0, 1, 8)` and `np.linspace(1, 0, 8)`.
    let step = 1.0 / (FADE - 1) as f64;
    for i in 0..FADE.min(length) {
        let rising = if i + 1 == FADE { 1.0 } else { i as f64 * step };
        let falling = if i + 1 == FADE {
            0.0
        } else {
            1.0 - i as f64 * step
        };
        row[i] *= rising;
        row[length - FADE + i] *= falling;
    }
    // The original multiplies a float32 array in float64 and stores float32, then truncates.
    row.iter().map(|&s| (s as f32) as i16).collect()
}

/// Writes the pad `pad` to `path`: for every row the cleaned 16-bit note of its sound
/// (`note_of(sound)`), post-processed to `layout.length` samples.
pub fn write_pad(
    path: &Path,
    pad: &PadPlan,
    layout: &PadLayout,
    note_of: &dyn Fn(usize) -> PathBuf,
) -> Result<(), PadError> {
    enum Failure {
        Row(AudioError),
        Io(io::Error),
    }
    impl From<io::Error> for Failure {
        fn from(error: io::Error) -> Self {
            Failure::Io(error)
        }
    }
    write_atomically(path, |w| {
        let mut bytes = Vec::with_capacity(layout.length * 2);
        for &sound in &pad.rows {
            let note = read_mono_16k(&note_of(sound)).map_err(Failure::Row)?;
            let samples: Vec<i16> = note
                .iter()
                .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
                .collect();
            bytes.clear();
            for sample in post_process(&samples, layout.length) {
                bytes.extend_from_slice(&sample.to_le_bytes());
            }
            w.write_all(&bytes)?;
        }
        Ok(())
    })
    .map_err(|failure| match failure {
        Failure::Row(cause) => PadError::Row {
            pad: path.to_path_buf(),
            cause,
        },
        Failure::Io(cause) => PadError::Write {
            path: path.to_path_buf(),
            cause,
        },
    })
}

/// The device settings for the pads of `config`: the corner instrument lists in device order,
/// and `nsynth` keys matching the pads (`dataDirectory` `.`: the pads sit next to this file).
/// The other sections hold the shipped values.
pub fn device_settings(config: &PipelineConfig) -> serde_json::Value {
    settings_for_pads(".", &config.layout, SAMPLE_RATE, &config.corners)
}

/// Writes [`device_settings`] to `path`, pretty-printed.
pub fn write_device_settings(path: &Path, config: &PipelineConfig) -> Result<(), PadError> {
    let text = serde_json::to_string_pretty(&device_settings(config))
        .expect("a JSON value always serialises");
    write_atomically(path, |w| {
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    })
    .map_err(|cause| PadError::Write {
        path: path.to_path_buf(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::write_pcm16_wav;
    use crate::pipeline::grid::Plan;
    use open_nsynth::pad::{pad_file_name, PadFile, PadSource};
    use open_nsynth::settings::Settings;

    #[test]
    fn the_onset_starts_16_samples_early_and_the_ends_fade() {
        let mut note = vec![0i16; 1000];
        note[100] = 50; // below 10 % of the peak
        note[300] = 1000;
        for sample in &mut note[301..] {
            *sample = 700;
        }
        let row = post_process(&note, 100);
        assert_eq!(row.len(), 100);
        // Onset 300, kept from 284: 16 quiet samples, the onset, then the note.
        assert_eq!(row[..16], [0; 16]);
        assert_eq!(row[16], 1000);
        assert_eq!(row[17..92], [700; 75]);
        // Fade-out over the last 8: 700 · (1, 6/7, …, 1/7, 0), truncated.
        assert_eq!(row[92..], [700, 600, 500, 400, 300, 200, 100, 0]);
    }

    #[test]
    fn a_short_note_is_padded_and_a_silent_one_stays_silent() {
        let note = vec![100i16; 20];
        let row = post_process(&note, 40);
        assert_eq!(row[..8], [0, 14, 28, 42, 57, 71, 85, 100]);
        assert_eq!(row[8..20], [100; 12]);
        assert_eq!(row[20..], [0; 20]);
        assert_eq!(post_process(&[0; 50], 30), vec![0; 30]);
    }

    #[test]
    fn the_onset_is_looked_for_in_the_first_quarter_second_only() {
        let mut note = vec![0i16; 6000];
        note[10] = 100; // the peak of the window
        note[5000] = 30000; // louder, but past the window
        let row = post_process(&note, 64);
        assert_eq!(row.len(), 64);
        // Onset 10 → start 0 (clamped), so the sample at 10 survives.
        assert_eq!(row[10], 100);
    }

    fn config(res: usize, pitches: &[u8], length: usize) -> PipelineConfig {
        let json = serde_json::json!({
            "pads": {
                "NW": [{"name": "flute", "display": "Flute", "abbr": "FL"}],
                "NE": ["brass"], "SE": ["reed", "organ"], "SW": ["bell"]
            },
            "pitches": pitches, "resolution": res, "final_length": length,
        });
        PipelineConfig::from_json(&json.to_string(), Path::new("settings.json")).unwrap()
    }

    #[test]
    fn pad_rows_land_where_the_device_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(3, &[48, 60], 64);
        let plan = Plan::new(&config);
        // Each sound's note is a constant level naming it: 100 · (sound + 1).
        let note_of = |sound: usize| dir.path().join(format!("note{sound}.wav"));
        for sound in 0..plan.sounds.len() {
            let level = 100 * (sound as i16 + 1);
            write_pcm16_wav(&note_of(sound), &vec![level; 200]).unwrap();
        }
        for pad in &plan.pads {
            let path = dir.path().join(pad_file_name(&pad.corners));
            write_pad(&path, pad, &config.layout, &note_of).unwrap();
        }

        let layout = &config.layout;
        for pad in &plan.pads {
            let path = dir.path().join(pad_file_name(&pad.corners));
            let file = PadFile::open(&path, layout).unwrap();
            for yi in 0..3 {
                for xi in 0..3 {
                    let point = layout.point(xi, yi);
                    let mut rows = vec![0i16; layout.point_samples()];
                    file.read_point(point, &mut rows).unwrap();
                    for (p, row) in rows.chunks(layout.length).enumerate() {
                        let sound = pad.rows[layout.row(point, p)];
                        let expected = &plan.sounds[sound];
                        // The row plays the sound of this point's weights and this pitch.
                        assert_eq!(expected.pitch, p);
                        let x = [0.0, 0.5, 1.0][xi];
                        let y = [0.0, 0.5, 1.0][yi];
                        let weights = crate::pipeline::grid::corner_weights(x, y);
                        let instruments = plan.instruments(expected);
                        for (k, name) in pad.corners.iter().enumerate() {
                            let w = instruments
                                .iter()
                                .position(|i| i == name)
                                .map_or(0.0, |j| expected.weights[j]);
                            assert!((w - weights[k]).abs() < 1e-12, "{name} at ({xi},{yi})");
                        }
                        assert_eq!(row[20], 100 * (sound as i16 + 1));
                    }
                }
            }
        }
    }

    #[test]
    fn pad_names_follow_device_corner_order() {
        let plan = Plan::new(&config(3, &[60], 64));
        let names: Vec<String> = plan
            .pads
            .iter()
            .map(|p| pad_file_name(&p.corners))
            .collect();
        assert_eq!(
            names,
            ["flute_brass_organ_bell.bin", "flute_brass_reed_bell.bin"]
        );
    }

    #[test]
    fn the_device_accepts_the_settings_and_finds_the_pads() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(3, &[48, 60], 64);
        let path = dir.path().join("settings.json");
        write_device_settings(&path, &config).unwrap();
        let settings = Settings::from_file(&path).unwrap();
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
        assert_eq!(settings.pad.layout, config.layout);
        assert_eq!(settings.pad.sample_rate, 16000);
        assert_eq!(settings.corners, config.corners);
        assert_eq!(settings.corners[0][0].display, "Flute");
        assert_eq!(settings.corners[2][1].name, "organ");
        let first = open_nsynth::pad::inventory(&settings).remove(0);
        assert_eq!(
            first.path,
            dir.path().join(".").join("flute_brass_reed_bell.bin")
        );
    }

    #[test]
    fn a_missing_note_names_the_pad_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(3, &[60], 64);
        let plan = Plan::new(&config);
        let path = dir.path().join("p.bin");
        let note_of = |sound: usize| dir.path().join(format!("missing{sound}.wav"));
        let error = write_pad(&path, &plan.pads[0], &config.layout, &note_of).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("p.bin") && message.contains("missing0.wav"),
            "{message}"
        );
        assert!(!path.exists());
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy()
                    .ends_with(open_nsynth::atomic::PARTIAL_SUFFIX)
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
