//! [`run`](super::run) end to end with the tone stand-in: the pads the device opens, reruns that
//! redo only what was removed or what a changed input was made from, dry runs kept apart,
//! `--force`, shards, and recordings missing, doubled or unusable.

use super::*;
use crate::audio::zero_crossing_frequency;
use crate::embedding::Embedding;
use crate::model::WeightFormat;
use crate::synth::{GenerationJob, GenerationProgress, ModelIdentity, ToneSynthesizer};
use provenance::{record_path, Provenance};
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

fn settings(gpus: usize) -> serde_json::Value {
    let [nw, ne, se, sw] = INSTRUMENTS.map(|(name, _)| [name]);
    serde_json::json!({
        "pads": {"NW": nw, "NE": ne, "SE": se, "SW": sw},
        "magenta_dir": "~/magenta",
        "pitches": PITCHES,
        "resolution": 3,
        "final_length": ROW,
        "gpus": gpus,
    })
}

/// The test settings with the keys of `changes` replaced.
fn config_with(changes: serde_json::Value) -> PipelineConfig {
    let mut json = settings(1);
    for (key, value) in changes.as_object().unwrap() {
        json[key] = value.clone();
    }
    PipelineConfig::from_json(&json.to_string(), Path::new("settings.json")).unwrap()
}

pub(super) fn config(gpus: usize) -> PipelineConfig {
    config_with(serde_json::json!({ "gpus": gpus }))
}

/// A half-second sine at `frequency` (silence at 0), 16-bit at 16 kHz, as `<name>_<pitch>.wav`.
fn write_tone(workdir: &Path, name: &str, pitch: u8, frequency: f64) {
    let dir = workdir.join(RECORDINGS_DIR);
    std::fs::create_dir_all(&dir).unwrap();
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

/// One recording per instrument and pitch.
fn write_recordings(workdir: &Path) {
    for (name, frequency) in INSTRUMENTS {
        for (p, &pitch) in PITCHES.iter().enumerate() {
            write_tone(
                workdir,
                name,
                pitch,
                frequency * if p == 0 { 1.0 } else { 1.5 },
            );
        }
    }
}

/// A stand-in for an NSynth checkpoint: only its identity differs from the tone's.
fn checkpoint(index: &str) -> ModelIdentity {
    ModelIdentity::Nsynth {
        tensors: 1,
        shapes: "sha256:0".into(),
        index: index.into(),
        encoder_stages: 10,
        decoder_stages: 10,
        weights: WeightFormat::F32,
    }
}

/// The tone stand-in under a given identity, counting what it is asked to do.
struct Counting {
    identity: ModelIdentity,
    encoded: Mutex<usize>,
    generated: Mutex<Vec<usize>>,
}

impl Counting {
    fn new(identity: ModelIdentity) -> Self {
        Self {
            identity,
            encoded: Mutex::new(0),
            generated: Mutex::new(Vec::new()),
        }
    }
}

impl Default for Counting {
    /// As if it were a checkpoint's model.
    fn default() -> Self {
        Self::new(checkpoint("sha256:a"))
    }
}

impl Synthesizer for Counting {
    fn identity(&self) -> ModelIdentity {
        self.identity.clone()
    }

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

fn options(seed: u64, shard: Option<ShardSpec>) -> PipelineOptions {
    PipelineOptions {
        generate: GenerateOptions {
            batch_size: 4,
            checkpoint_interval: std::time::Duration::ZERO,
            ..GenerateOptions::default()
        },
        seed,
        shard,
        strict: false,
    }
}

/// One pipeline run in `workdir` as `shard` (all work with `None`), without progress bars.
fn run_as(
    shard: Option<ShardSpec>,
    config: &PipelineConfig,
    workdir: &Path,
    synth: &Counting,
) -> Result<PipelineReport, PipelineError> {
    run(
        config,
        workdir,
        synth,
        &options(5, shard),
        &Progress::hidden(),
    )
}

/// What each step did, as the final line says it.
fn steps(report: &PipelineReport) -> [String; 4] {
    [
        report.encoded.describe("encoded"),
        report.generated.tally.describe("generated"),
        report.cleaned.describe("cleaned"),
        report.pads.describe("pads written"),
    ]
}

/// The record beside `output`.
fn record_of(output: &Path) -> Provenance {
    let text = std::fs::read_to_string(record_path(output)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn recordings_become_pads_the_device_opens_with_every_row_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let config = config(1);
    let synth = Counting::default();
    let report = run_as(None, &config, workdir, &synth).unwrap();
    assert!(report.complete() && !report.dry_run);
    assert_eq!((report.recordings, report.sounds), (8, 18));
    assert_eq!(
        steps(&report),
        ["8 encoded", "18 generated", "18 cleaned", "1 pads written"]
    );
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
    let dirs = Workdir::new(workdir, false);
    let pad_path = dirs.pads.join("alto_bass_cello_drum.bin");
    let pad_before = std::fs::read(&pad_path).unwrap();

    // Nothing to do on a second run.
    let synth = Counting::default();
    let report = run_as(None, &config, workdir, &synth).unwrap();
    assert_eq!(
        steps(&report),
        [
            "0 encoded, 8 reused",
            "0 generated, 18 reused",
            "0 cleaned, 18 reused",
            "0 pads written, 1 reused"
        ]
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
        steps(&report),
        [
            "0 encoded, 8 reused",
            "1 generated, 17 reused",
            "1 cleaned, 17 reused",
            "1 pads written"
        ]
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
        (
            first.generated.tally.made(),
            first.complete(),
            first.pads.made()
        ),
        (9, false, 0)
    );
    assert!(first.waiting);
    assert!(!first.pads_dir.join(DEVICE_SETTINGS_FILE).exists());
    let second = run_as(
        Some(ShardSpec::Index(1)),
        &config,
        workdir,
        &Counting::default(),
    )
    .unwrap();
    assert_eq!(
        (
            second.generated.tally.made(),
            second.complete(),
            second.pads.made()
        ),
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
        generated.push((
            report.generated.tally.made(),
            report.complete(),
            report.pads.made(),
        ));
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

#[test]
fn a_dry_run_writes_apart_and_a_real_run_after_it_makes_real_pads() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let config = config(1);
    let dry = run_as(None, &config, workdir, &Counting::new(ModelIdentity::Tone)).unwrap();
    assert!(dry.dry_run && dry.complete());
    assert_eq!(dry.pads_dir, workdir.join(DRY_RUN_DIR).join(PADS_DIR));
    let dry_pad = dry.pads_dir.join("alto_bass_cello_drum.bin");
    assert!(record_of(&dry_pad).dry_run);
    assert!(!workdir.join(PADS_DIR).exists());

    let real = run_as(None, &config, workdir, &Counting::default()).unwrap();
    assert!(!real.dry_run && real.complete());
    assert_eq!(real.pads_dir, workdir.join(PADS_DIR));
    assert_eq!(
        steps(&real),
        ["8 encoded", "18 generated", "18 cleaned", "1 pads written"]
    );
    let pad = real.pads_dir.join("alto_bass_cello_drum.bin");
    let record = record_of(&pad);
    assert_eq!(
        (record.dry_run, record.model),
        (false, checkpoint("sha256:a"))
    );
    let settings = real.pads_dir.join(DEVICE_SETTINGS_FILE);
    assert_eq!(record_of(&settings).recordings.len(), 8);
    // The dry run's pad is still where it was, not in the real pads.
    assert!(dry_pad.exists());
}

#[test]
fn each_changed_input_redoes_exactly_the_outputs_made_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let run_with = |config: &PipelineConfig, seed: u64, synth: &Counting| {
        run(
            config,
            workdir,
            synth,
            &options(seed, None),
            &Progress::hidden(),
        )
        .unwrap()
    };
    let first = run_with(&config(1), 5, &Counting::default());
    assert_eq!(
        steps(&first),
        ["8 encoded", "18 generated", "18 cleaned", "1 pads written"]
    );
    let pad = first.pads_dir.join("alto_bass_cello_drum.bin");

    // A shorter row: only the pad.
    let shorter = config_with(serde_json::json!({ "final_length": 6000 }));
    let synth = Counting::default();
    let report = run_with(&shorter, 5, &synth);
    assert_eq!(
        steps(&report),
        [
            "0 encoded, 8 reused",
            "0 generated, 18 reused",
            "0 cleaned, 18 reused",
            "1 pads written (1 redone: final_length changed)"
        ]
    );
    assert_eq!(std::fs::metadata(&pad).unwrap().len(), 9 * 2 * 6000 * 2);
    let settings = Settings::from_file(&report.pads_dir.join(DEVICE_SETTINGS_FILE)).unwrap();
    assert_eq!(settings.pad.layout.length, 6000);
    assert_eq!(*synth.encoded.lock().unwrap(), 0);
    assert!(synth.generated.lock().unwrap().is_empty());

    // Another recording of the alto at 48: its embedding and the 4 sounds at 48 that mix the
    // alto (the top-left quarter of the grid), and the pad.
    write_tone(workdir, "alto", 48, 250.0);
    let report = run_with(&shorter, 5, &Counting::default());
    assert_eq!(
        steps(&report),
        [
            "1 encoded (1 redone: recordings changed), 7 reused",
            "4 generated (4 redone: recordings changed), 14 reused",
            "4 cleaned (4 redone: recordings changed), 14 reused",
            "1 pads written (1 redone: recordings changed)"
        ]
    );

    // Another seed: every sound, not the embeddings.
    let report = run_with(&shorter, 6, &Counting::default());
    assert_eq!(
        steps(&report),
        [
            "0 encoded, 8 reused",
            "18 generated (18 redone: seed changed)",
            "18 cleaned (18 redone: seed changed)",
            "1 pads written (1 redone: seed changed)"
        ]
    );

    // Another note length: everything.
    let longer = config_with(serde_json::json!({ "final_length": 6000, "note_length": 16384 }));
    let synth = Counting::default();
    let report = run_with(&longer, 6, &synth);
    assert_eq!(
        steps(&report),
        [
            "8 encoded (8 redone: note_length changed)",
            "18 generated (18 redone: note_length changed)",
            "18 cleaned (18 redone: note_length changed)",
            "1 pads written (1 redone: note_length changed)"
        ]
    );
    assert_eq!(*synth.encoded.lock().unwrap(), 8);

    // Another checkpoint: everything.
    let report = run_with(&longer, 6, &Counting::new(checkpoint("sha256:b")));
    assert_eq!(
        steps(&report),
        [
            "8 encoded (8 redone: model changed)",
            "18 generated (18 redone: model changed)",
            "18 cleaned (18 redone: model changed)",
            "1 pads written (1 redone: model changed)"
        ]
    );
    let record = record_of(&pad);
    assert_eq!(
        (record.seed, record.final_length, record.model),
        (Some(6), Some(6000), checkpoint("sha256:b"))
    );
}

#[test]
fn force_redoes_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let config = config(1);
    run_as(None, &config, workdir, &Counting::default()).unwrap();
    let mut forced = options(5, None);
    forced.generate.force = true;
    let synth = Counting::default();
    let report = run(&config, workdir, &synth, &forced, &Progress::hidden()).unwrap();
    assert_eq!(
        steps(&report),
        [
            "8 encoded (8 redone: --force)",
            "18 generated (18 redone: --force)",
            "18 cleaned (18 redone: --force)",
            "1 pads written (1 redone: --force)"
        ]
    );
    assert_eq!(*synth.encoded.lock().unwrap(), 8);
}

/// An empty file, a silent one and text named .wav, among good recordings.
fn break_recordings(workdir: &Path) {
    let recordings = workdir.join(RECORDINGS_DIR);
    std::fs::write(recordings.join("echo_48.wav"), b"").unwrap();
    write_tone(workdir, "echo", 55, 0.0);
    std::fs::write(recordings.join("bass_48.wav"), b"not audio at all\n").unwrap();
}

#[test]
fn bad_recordings_are_skipped_with_the_sounds_and_pads_that_need_them() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path();
    write_recordings(workdir);
    let write_good = || {
        for pitch in PITCHES {
            write_tone(workdir, "echo", pitch, 300.0);
        }
        write_tone(workdir, "bass", 48, 400.0);
        write_tone(workdir, "fife", 48, 500.0);
        write_tone(workdir, "fife", 55, 750.0);
    };
    write_good();
    break_recordings(workdir);
    let config = config_with(serde_json::json!({
        "pads": {"NW": ["alto", "echo"], "NE": ["bass", "fife"], "SE": ["cello"], "SW": ["drum"]}
    }));
    let report = run_as(None, &config, workdir, &Counting::default()).unwrap();
    let bad: Vec<String> = report
        .bad
        .iter()
        .map(|b| b.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(bad, ["echo_48.wav", "echo_55.wav", "bass_48.wav"]);
    let messages: Vec<String> = report.bad.iter().map(|b| b.cause.to_string()).collect();
    assert!(
        messages[0].ends_with("is an empty file (0 bytes)"),
        "{}",
        messages[0]
    );
    assert!(messages[1].contains("is silent"), "{}", messages[1]);
    assert!(
        messages[2].ends_with(
            "is not a WAV, AIFF or FLAC file: the decoder found no header it knows in its 17 bytes"
        ),
        "{}",
        messages[2]
    );
    // The good recordings are encoded; the pad without the bad ones is written. Bass is a
    // corner of the first pad, where the sounds of the alto alone come from: they are made from
    // the alto's recordings only.
    assert_eq!(report.encoded.describe("encoded"), "9 encoded");
    assert!(!report.complete());
    let unmade = [
        "alto_bass_cello_drum.bin",
        "echo_bass_cello_drum.bin",
        "echo_fife_cello_drum.bin",
    ];
    assert_eq!(report.unmade_pads, unmade);
    assert_eq!(report.pads.describe("pads written"), "1 pads written");
    assert!(report.pads_dir.join("alto_fife_cello_drum.bin").exists());
    let sounds = report.sounds - report.unmade_sounds;
    assert_eq!(report.generated.tally.made(), sounds);

    // Good recordings in their place: what was missing is made, the rest reused.
    write_good();
    let report = run_as(None, &config, workdir, &Counting::default()).unwrap();
    assert!(report.complete() && report.bad.is_empty());
    assert_eq!(report.encoded.describe("encoded"), "3 encoded, 9 reused");
    assert_eq!(report.generated.tally.reused, sounds);
    assert_eq!(
        report.pads.describe("pads written"),
        "3 pads written, 1 reused"
    );

    // Broken again: the pads made from the good ones are stale, and removed.
    break_recordings(workdir);
    let report = run_as(None, &config, workdir, &Counting::default()).unwrap();
    assert_eq!(report.bad.len(), 3);
    assert_eq!(report.encoded.describe("encoded"), "0 encoded, 9 reused");
    assert_eq!(
        report.pads.describe("pads written"),
        "0 pads written, 1 reused"
    );
    for name in unmade {
        assert!(!report.pads_dir.join(name).exists(), "{name}");
    }

    let mut strict = options(5, None);
    strict.strict = true;
    let error = run(
        &config,
        workdir,
        &Counting::default(),
        &strict,
        &Progress::hidden(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("echo_48.wav") && error.contains("empty"),
        "{error}"
    );
}
