//! [`run`](super::run) end to end with the tone stand-in: the pads the device opens, reruns that
//! redo only what was removed, shards, and recordings missing or doubled.

use super::*;
use crate::audio::zero_crossing_frequency;
use crate::embedding::Embedding;
use crate::synth::{GenerationJob, GenerationProgress, ToneSynthesizer};
use std::f64::consts::TAU;
use std::sync::Mutex;

use open_nsynth::pad::{inventory, PadFile, PadSource, PadState};
use open_nsynth::settings::Settings;

/// Corner instruments (NW, NE, SE, SW) and their frequencies at the first pitch; the second
/// pitch is a fifth up.
pub(super) const INSTRUMENTS: [(&str, f64); 4] = [
    ("alto", 200.0),
    ("bass", 400.0),
    ("cello", 800.0),
    ("drum", 1600.0),
];
const PITCHES: [u8; 2] = [48, 55];
const ROW: usize = 8000;

fn settings_json(gpus: usize) -> String {
    let [nw, ne, se, sw] = INSTRUMENTS.map(|(name, _)| [name]);
    serde_json::json!({
        "pads": {"NW": nw, "NE": ne, "SE": se, "SW": sw},
        "magenta_dir": "~/magenta",
        "pitches": PITCHES,
        "resolution": 3,
        "final_length": ROW,
        "gpus": gpus,
    })
    .to_string()
}

pub(super) fn config(gpus: usize) -> PipelineConfig {
    PipelineConfig::from_json(&settings_json(gpus), Path::new("settings.json")).unwrap()
}

/// Half-second sines, one per instrument and pitch, 16-bit at 16 kHz.
fn write_recordings(workdir: &Path) {
    let dir = workdir.join(RECORDINGS_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, frequency) in INSTRUMENTS {
        for (p, pitch) in PITCHES.iter().enumerate() {
            let frequency = frequency * if p == 0 { 1.0 } else { 1.5 };
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 16000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let path = dir.join(format!("{name}_{pitch}.wav"));
            let mut wav = hound::WavWriter::create(path, spec).unwrap();
            for i in 0..8000 {
                let value = 0.4 * (TAU * frequency * f64::from(i) / 16000.0).sin();
                wav.write_sample((value * 32767.0) as i16).unwrap();
            }
            wav.finalize().unwrap();
        }
    }
}

/// The tone stand-in, counting what it is asked to do.
#[derive(Default)]
struct Counting {
    encoded: Mutex<usize>,
    generated: Mutex<Vec<usize>>,
}

impl Synthesizer for Counting {
    fn encode(&self, audio: &[f32]) -> anyhow::Result<Embedding> {
        *self.encoded.lock().unwrap() += 1;
        ToneSynthesizer::default().encode(audio)
    }

    fn generate(
        &self,
        jobs: &[GenerationJob],
        progress: &mut dyn FnMut(GenerationProgress<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        self.generated.lock().unwrap().push(jobs.len());
        ToneSynthesizer::default().generate(jobs, progress)
    }
}

/// One pipeline run in `workdir` as `shard` (all work with `None`), without progress bars.
fn run_as(
    shard: Option<ShardSpec>,
    config: &PipelineConfig,
    workdir: &Path,
    synth: &Counting,
) -> Result<PipelineReport, PipelineError> {
    let options = PipelineOptions {
        generate: GenerateOptions {
            batch_size: 4,
            checkpoint_interval: std::time::Duration::ZERO,
        },
        seed: 5,
        shard,
    };
    run(config, workdir, synth, &options, &Progress::hidden())
}

#[test]
fn recordings_become_pads_the_device_opens_with_every_row_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let config = config(1);
    let synth = Counting::default();
    let report = run_as(None, &config, workdir, &synth).unwrap();
    assert!(report.complete);
    assert_eq!(report.sounds, 18);
    assert_eq!(report.generated, 18);
    assert_eq!(report.cleaned, 18);
    assert_eq!(report.pads_written, 1);
    assert_eq!(*synth.encoded.lock().unwrap(), 8);
    assert_eq!(*synth.generated.lock().unwrap(), [4, 4, 4, 4, 2]);

    // The device reads the settings and finds the pad at the right size.
    let settings = Settings::from_file(&report.pads_dir.join(DEVICE_SETTINGS_FILE)).unwrap();
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    let pads = inventory(&settings);
    assert_eq!(pads.len(), 1);
    assert_eq!(pads[0].state, PadState::Present);
    assert!(pads[0].path.ends_with("alto_bass_cello_drum.bin"));

    // Each row plays the blend of the corners' frequencies its grid point weights give:
    // top-left alto, top-right bass, bottom-left cello, bottom-right drum.
    let layout = &settings.pad.layout;
    let pad = PadFile::open(&pads[0].path, layout).unwrap();
    let step = [0.0, 0.5, 1.0];
    for yi in 0..3 {
        for xi in 0..3 {
            let weights = grid::corner_weights(step[xi], step[yi]);
            let point = layout.point(xi, yi);
            let mut rows = vec![0i16; layout.point_samples()];
            pad.read_point(point, &mut rows).unwrap();
            for (p, row) in rows.chunks(layout.length).enumerate() {
                let fifth = if p == 0 { 1.0 } else { 1.5 };
                let expected: f64 = INSTRUMENTS
                    .iter()
                    .zip(weights)
                    .map(|((_, f), w)| f * fifth * w)
                    .sum();
                let samples: Vec<f32> = row.iter().map(|&s| f32::from(s)).collect();
                let found = zero_crossing_frequency(&samples);
                // Encoding estimates the recordings' frequencies within a few hertz.
                assert!(
                    (found - expected).abs() < expected * 0.01,
                    "point ({xi}, {yi}) pitch {p}: {found} Hz, expected {expected}"
                );
                let peak = row.iter().map(|s| s.unsigned_abs()).max().unwrap();
                assert!((8200..=8231).contains(&peak), "{peak}");
            }
        }
    }
}

#[test]
fn a_rerun_redoes_only_what_was_removed() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let config = config(1);
    run_as(None, &config, workdir, &Counting::default()).unwrap();
    let plan = Plan::new(&config);
    let dirs = Workdir::new(workdir);
    let pad_path = dirs.pads.join("alto_bass_cello_drum.bin");
    let pad_before = std::fs::read(&pad_path).unwrap();

    // Nothing to do on a second run.
    let synth = Counting::default();
    let report = run_as(None, &config, workdir, &synth).unwrap();
    assert_eq!(
        (report.generated, report.cleaned, report.pads_written),
        (0, 0, 0)
    );
    assert_eq!(*synth.encoded.lock().unwrap(), 0);
    assert!(synth.generated.lock().unwrap().is_empty());

    // Remove one sound (leaving a half-written file in its place) and the pad.
    let centre = &plan.sounds[plan.pads[0].rows[4 * 2 + 1]];
    assert_eq!(
        centre.name,
        "alto_0.25_bass_0.25_cello_0.25_drum_0.25_pitch_55"
    );
    std::fs::remove_file(dirs.generated(centre)).unwrap();
    std::fs::remove_file(dirs.cleaned(centre)).unwrap();
    std::fs::write(
        open_nsynth::atomic::partial_path(&dirs.generated(centre)),
        b"RIFF",
    )
    .unwrap();
    std::fs::remove_file(&pad_path).unwrap();

    let synth = Counting::default();
    let report = run_as(None, &config, workdir, &synth).unwrap();
    assert_eq!(
        (report.generated, report.cleaned, report.pads_written),
        (1, 1, 1)
    );
    assert_eq!(*synth.generated.lock().unwrap(), [1]);
    assert_eq!(*synth.encoded.lock().unwrap(), 0);
    assert_eq!(std::fs::read(&pad_path).unwrap(), pad_before);
}

#[test]
fn shards_share_the_work_and_the_last_one_builds_the_pads() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let config = config(2);
    let first = run_as(
        Some(ShardSpec::Index(0)),
        &config,
        workdir,
        &Counting::default(),
    )
    .unwrap();
    assert_eq!(
        (first.generated, first.complete, first.pads_written),
        (9, false, 0)
    );
    assert!(!first.pads_dir.join(DEVICE_SETTINGS_FILE).exists());
    let second = run_as(
        Some(ShardSpec::Index(1)),
        &config,
        workdir,
        &Counting::default(),
    )
    .unwrap();
    assert_eq!(
        (second.generated, second.complete, second.pads_written),
        (9, true, 1)
    );
    let error = run_as(
        Some(ShardSpec::Index(2)),
        &config,
        workdir,
        &Counting::default(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("no shard 2"), "{error}");
}

#[test]
fn a_shard_count_on_the_command_line_overrides_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let config = config(1);
    let mut generated = Vec::new();
    for index in 0..3 {
        let shard = ShardSpec::Of(Shard::new(index, 3).unwrap());
        let report = run_as(Some(shard), &config, workdir, &Counting::default()).unwrap();
        generated.push((report.generated, report.complete, report.pads_written));
    }
    assert_eq!(generated, [(6, false, 0), (6, false, 0), (6, true, 1)]);
}

#[test]
fn missing_recordings_are_listed_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    std::fs::remove_file(workdir.join(RECORDINGS_DIR).join("cello_55.wav")).unwrap();
    std::fs::remove_file(workdir.join(RECORDINGS_DIR).join("alto_48.wav")).unwrap();
    let synth = Counting::default();
    let error = run_as(None, &config(1), workdir, &synth).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("alto_48, cello_55"), "{message}");
    assert!(message.contains(RECORDINGS_DIR), "{message}");
    assert_eq!(*synth.encoded.lock().unwrap(), 0);
}

#[test]
fn two_recordings_of_one_note_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let recordings = workdir.join(RECORDINGS_DIR);
    std::fs::copy(
        recordings.join("bass_48.wav"),
        recordings.join("bass_48.WAV"),
    )
    .unwrap();
    let error = run_as(None, &config(1), workdir, &Counting::default()).unwrap_err();
    assert!(
        matches!(error, PipelineError::DuplicateRecording { .. }),
        "{error}"
    );
}
