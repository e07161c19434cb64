//! The commands' work on the tone stand-in and a small checkpoint: encoding and generating a
//! folder, resuming, grain clouds, a bad pipeline settings file, and listing and converting
//! checkpoints.

use std::f64::consts::TAU;
use std::path::Path;

use super::convert::{convert, ConvertReport};
use super::encode::encode;
use super::generate::tasks;
use super::grains::{self, GrainOptions};
use super::inspect::inspect;
use super::pipeline;
use crate::audio::read_mono_16k;
use crate::checkpoint::{
    sample, sample_checkpoint, DType, SafetensorsFile, TensorFile, TfCheckpoint,
};
use crate::npy::read_embedding;
use crate::pipeline::{generate, GenerateOptions, PipelineOptions};
use crate::progress::Progress;
use crate::synth::{Synthesizer, ToneSynthesizer};
use crate::tensor::TensorSource;

fn write_tone(path: &Path, frequency: f64, samples: usize) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..samples {
        let value = 0.4 * (TAU * frequency * i as f64 / 16000.0).sin();
        wav.write_sample((value * 32767.0) as i16).unwrap();
    }
    wav.finalize().unwrap();
}

#[test]
fn encode_then_generate_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("in");
    std::fs::create_dir(&recordings).unwrap();
    write_tone(&recordings.join("violin_24.wav"), 300.0, 70000);
    write_tone(&recordings.join("windfx_24.WAV"), 500.0, 2000);
    std::fs::write(recordings.join("notes.txt"), "not audio").unwrap();
    let embeddings = dir.path().join("embeddings");
    let synth = ToneSynthesizer::default();
    let report = encode(
        &synth,
        &recordings,
        &embeddings,
        false,
        false,
        &Progress::hidden(),
    )
    .unwrap();
    let written = report.written;
    assert_eq!(report.tally.reused, 0);
    // Proper stems, not the original's character strip (`iolin_24`, `indfx_24`).
    assert_eq!(
        written,
        [
            embeddings.join("violin_24_embeddings.npy"),
            embeddings.join("windfx_24_embeddings.npy")
        ]
    );
    assert_eq!(read_embedding(&written[0]).unwrap().frames(), 125);
    assert_eq!(read_embedding(&written[1]).unwrap().frames(), 3);

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let options = GenerateOptions {
        batch_size: 1,
        ..GenerateOptions::default()
    };
    let generate_all = || {
        let tasks = tasks(&embeddings, &out, 0, None, &synth.identity()).unwrap();
        let report = generate(&synth, &tasks, &options, &Progress::hidden()).unwrap();
        (report.tally.made(), report.tally.reused)
    };
    assert_eq!(generate_all(), (2, 0));
    let short = read_mono_16k(&out.join("gen_windfx_24_embeddings.wav")).unwrap();
    assert_eq!(short.len(), 1536);
    assert_eq!(generate_all(), (0, 2));
}

#[test]
fn encode_reuses_only_embeddings_made_from_the_same_recording() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("in");
    std::fs::create_dir(&recordings).unwrap();
    for (name, frequency) in [("a", 300.0), ("b", 500.0), ("c", 700.0), ("d", 900.0)] {
        write_tone(&recordings.join(format!("{name}.wav")), frequency, 1024);
    }
    let out = dir.path().join("embeddings");
    let synth = ToneSynthesizer::default();
    let run = |force| encode(&synth, &recordings, &out, force, false, &Progress::hidden()).unwrap();
    let first = run(false);
    assert_eq!(first.tally.describe("written"), "4 written");

    // A file without its record is made again, whatever it holds; so is the embedding of a
    // changed recording, and a missing one; the rest is reused.
    std::fs::write(out.join("a_embeddings.npy"), b"stray").unwrap();
    std::fs::remove_file(out.join("a_embeddings.npy.provenance.json")).unwrap();
    write_tone(&recordings.join("b.wav"), 550.0, 1024);
    std::fs::remove_file(out.join("c_embeddings.npy")).unwrap();
    let second = run(false);
    assert_eq!(
        second.written,
        ["a", "b", "c"].map(|name| out.join(format!("{name}_embeddings.npy")))
    );
    assert_eq!(
        second.tally.describe("written"),
        "3 written (2 redone: 1 no record of what made it, 1 recordings changed), 1 reused"
    );
    assert_eq!(read_embedding(&second.written[0]).unwrap().frames(), 2);
    assert_eq!(
        run(true).tally.describe("written"),
        "4 written (4 redone: --force)"
    );
}

#[test]
fn an_empty_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let synth = ToneSynthesizer::default();
    let message = encode(
        &synth,
        dir.path(),
        dir.path(),
        false,
        false,
        &Progress::hidden(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("holds no recordings"), "{message}");
}

#[test]
fn a_grain_cloud_moves_from_b_toward_a() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    write_tone(&a, 800.0, 4096);
    write_tone(&b, 400.0, 4096);
    let out = dir.path().join("generated_grain_cloud.npy");
    let synth = ToneSynthesizer::default();
    let options = |grain_length| GrainOptions {
        count: 4,
        grain_length,
        seed: 0,
    };
    grains::run(&synth, &a, &b, &options(2048), &out, &Progress::hidden()).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let npy = npyz::NpyFile::new(bytes.as_slice()).unwrap();
    assert_eq!(npy.shape(), [4, 2048]);
    let cloud: Vec<f32> = npy.into_vec().unwrap();
    // Grain i is a sine at 400 + 400 · i/4 Hz: count its upward zero crossings.
    for (i, grain) in cloud.chunks(2048).enumerate() {
        let ups = grain
            .windows(2)
            .filter(|p| p[0] < 0.0 && p[1] >= 0.0)
            .count() as f64;
        let expected = (400.0 + 400.0 * i as f64 / 4.0) * 2048.0 / 16000.0;
        assert!(
            (ups - expected).abs() <= 1.5,
            "grain {i}: {ups} vs {expected}"
        );
    }

    let error = grains::run(&synth, &a, &b, &options(1000), &out, &Progress::hidden()).unwrap_err();
    assert!(error.to_string().contains("512-sample frames"), "{error}");
    let error = grains::run(&synth, &a, &b, &options(8192), &out, &Progress::hidden()).unwrap_err();
    assert!(
        error.to_string().contains("a.wav has 4096 samples"),
        "{error}"
    );
}

#[test]
fn the_pipeline_command_names_a_bad_settings_file() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.json");
    std::fs::write(&settings, r#"{"pads": {}}"#).unwrap();
    let synth = ToneSynthesizer::default();
    let message = pipeline::run(
        &settings,
        dir.path(),
        &synth,
        &PipelineOptions::default(),
        false,
        &Progress::hidden(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("settings.json") && message.contains("pads"),
        "{message}"
    );
}

fn inspected(path: &Path) -> String {
    let mut out = Vec::new();
    inspect(path, false, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn inspect_lists_every_tensor_and_totals_with_and_without_training_state() {
    let folder = tempfile::tempdir().unwrap();
    let prefix = sample_checkpoint(folder.path());
    let listing = inspected(&prefix);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(
        lines[0],
        format!("TensorFlow checkpoint {}.index", prefix.display())
    );
    assert_eq!(lines.len(), 2 + 7 + 2 + 1, "{listing}");
    let name_width = "dilatedconv_1/W/ExponentialMovingAverage".len();
    assert_eq!(
        lines[1],
        format!(
            "{:<name_width$}  dtype    shape         parameters",
            "variable"
        )
    );
    assert_eq!(
        lines[3],
        format!(
            "{:<name_width$}  float32  [1, 3, 2, 4]  24",
            "dilatedconv_1/W"
        )
    );
    assert_eq!(
        lines[7],
        format!("{:<name_width$}  int32    []            1", "global_step")
    );
    assert_eq!(lines[9], "7 tensors, 101 parameters");
    assert!(
        lines[10].starts_with("2 model variables, 27 parameters"),
        "{listing}"
    );
    assert_eq!(
        lines[11],
        "verified 7 tensors: every one lies inside its data file and matches its checksum"
    );

    let converted = folder.path().join("all.safetensors");
    convert(&prefix, &converted, true).unwrap();
    let listing = inspected(&converted);
    assert!(listing.starts_with("safetensors file "), "{listing}");
    assert!(listing.contains("7 tensors, 101 parameters"), "{listing}");
}

#[test]
fn inspect_counts_every_tensor_that_fails_and_quick_reads_none() {
    let folder = tempfile::tempdir().unwrap();
    let prefix = sample_checkpoint(folder.path());
    let data = folder.path().join("model.ckpt-200000.data-00000-of-00001");
    std::fs::write(&data, b"").unwrap();
    let mut out = Vec::new();
    let error = inspect(&prefix, false, &mut out).unwrap_err();
    let message = format!("{error:#}");
    let expected = format!(
        "7 of 7 tensors fail verification, the first: {}: tensor \"beta1_power\" needs bytes \
         0..4 but the file has only 0 bytes",
        data.display()
    );
    assert!(message.starts_with(&expected), "{message}");
    let mut out = Vec::new();
    inspect(&prefix, true, &mut out).unwrap();
    let listing = String::from_utf8(out).unwrap();
    assert!(
        listing
            .lines()
            .last()
            .is_some_and(|line| line.starts_with("2 model variables")),
        "{listing}"
    );
}

#[test]
fn convert_keeps_only_model_variables_unless_asked_and_round_trips_exactly() {
    let folder = tempfile::tempdir().unwrap();
    let prefix = sample_checkpoint(folder.path());
    let weights = folder.path().join("nsynth.safetensors");
    let report = convert(&prefix, &weights, false).unwrap();
    assert_eq!(
        report,
        ConvertReport {
            written: 2,
            skipped: 5,
            parameters: 27,
            files: vec![weights.clone()],
        }
    );
    let file = SafetensorsFile::open(&weights).unwrap();
    assert_eq!(file.names(), ["dilatedconv_1/W", "logits/biases"]);

    let back = folder.path().join("back").join("model.ckpt");
    std::fs::create_dir(back.parent().unwrap()).unwrap();
    let report = convert(&weights, &back, false).unwrap();
    let index = back.with_file_name("model.ckpt.index");
    let data = back.with_file_name("model.ckpt.data-00000-of-00001");
    assert_eq!(report.files, [index, data]);
    let checkpoint = TfCheckpoint::open(&back).unwrap();
    let original = sample();
    for name in checkpoint.names() {
        assert_eq!(
            checkpoint.tensor(&name).unwrap(),
            original.tensor(&name).unwrap()
        );
    }

    let everything = folder.path().join("everything.safetensors");
    let report = convert(&prefix, &everything, true).unwrap();
    assert_eq!((report.written, report.skipped), (7, 0));
    let file = SafetensorsFile::open(&everything).unwrap();
    assert_eq!(file.entry("global_step").unwrap().dtype, DType::I32);
    assert_eq!(
        file.read_bytes("global_step").unwrap(),
        200_000i32.to_le_bytes()
    );
}

#[test]
fn a_missing_checkpoint_is_named() {
    let folder = tempfile::tempdir().unwrap();
    let missing = folder.path().join("nothing-here");
    let error = convert(&missing, &folder.path().join("out.safetensors"), false).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("nothing-here.index: reading the index"),
        "{error}"
    );
}
