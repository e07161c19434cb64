//! What several end-to-end tests share: the fixture model's files and instrument recordings.

use std::path::{Path, PathBuf};

/// A file of the small TensorFlow-made NSynth fixture (`model.ckpt` is its checkpoint prefix).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nsynth_small")
        .join(name)
}

/// 16 kHz mono recordings of `instrument_pitch.wav`: a decaying tone with a timbre per
/// instrument.
pub fn write_recordings(folder: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    for (harmonics, instrument) in ["flute", "brass", "reed", "bell"].iter().enumerate() {
        for pitch in [48u8, 60] {
            let path = folder.join(format!("{instrument}_{pitch}.wav"));
            let mut writer = hound::WavWriter::create(path, spec).unwrap();
            let hz = 440.0 * 2f32.powf((f32::from(pitch) - 69.0) / 12.0);
            for n in 0..4000 {
                let t = n as f32 / 16000.0;
                let tone: f32 = (1..=harmonics + 1)
                    .map(|h| (std::f32::consts::TAU * hz * h as f32 * t).sin() / h as f32)
                    .sum();
                let sample = 0.4 * tone * (-3.0 * t).exp();
                writer.write_sample((sample * 32767.0) as i16).unwrap();
            }
            writer.finalize().unwrap();
        }
    }
}
