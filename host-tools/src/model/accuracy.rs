//! What 16-bit weights ([`WeightFormat`]) do to the decoder's output, measured on the fixture
//! model (Magenta's graph at a small width, `tests/fixtures/nsynth_small`): the teacher-forced
//! logits of the fixture recording against float32 weights (largest relative difference,
//! `|a − b| / (1 + |b|)`), and the share of a generated note's samples equal to float32's for
//! the same seed. The bounds asserted here are the ones `--weights` documents.

use std::path::Path;

use super::generator::{generate_with, teacher_forced_steps, Decoding, Note};
use super::packed::WeightFormat;
use super::shape::HOP_LENGTH;
use super::stages::Stages;
use super::testing::max_relative_difference;
use super::weights::Model;

/// The largest relative difference of the teacher-forced logits from float32's.
fn logit_bound(format: WeightFormat) -> f32 {
    match format {
        WeightFormat::F32 => 0.0,
        WeightFormat::Bf16 => 5e-2,
        WeightFormat::F16 => 1e-2,
    }
}

struct Fixture {
    model: Model,
    audio: Vec<f32>,
    embedding: Vec<f32>,
}

impl Fixture {
    fn load() -> Self {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nsynth_small");
        let checkpoint = crate::checkpoint::TfCheckpoint::open(&folder.join("model.ckpt")).unwrap();
        let stages = Stages {
            encoder: 3,
            decoder: 4,
        };
        let embedding = crate::npy::read_embedding(&folder.join("embeddings.npy")).unwrap();
        Fixture {
            model: Model::load(&checkpoint, stages).unwrap(),
            audio: crate::audio::load_for_encoding(&folder.join("input.wav"), 64_000).unwrap(),
            embedding: embedding.values().to_vec(),
        }
    }

    /// The largest relative difference of the teacher-forced logits of the fixture recording
    /// with weights in `format` from float32's.
    fn logit_difference(&self, format: WeightFormat) -> f32 {
        let logits = |format| {
            teacher_forced_steps(&self.model, format, &[&self.audio], &[&self.embedding])
                .unwrap()
                .remove(0)
        };
        max_relative_difference(&logits(format), &logits(WeightFormat::F32))
    }

    /// The share of the samples of a note of `samples` (the fixture's frames over and over,
    /// seed 3) with weights in `format` equal to float32's, and the first one that differs.
    fn equal_samples(&self, format: WeightFormat, samples: usize) -> (f64, Option<usize>) {
        let width = self.model.shape().bottleneck_width;
        let embedding: Vec<f32> = self
            .embedding
            .chunks_exact(width)
            .cycle()
            .take(samples.div_ceil(HOP_LENGTH))
            .flatten()
            .copied()
            .collect();
        let note = [Note {
            embedding: &embedding,
            seed: 3,
            prefix: &[],
        }];
        let generate = |format| {
            let decoding = Decoding {
                weights: format,
                threads: None,
            };
            generate_with(&self.model, decoding, &note, 4096, |_, _| true)
                .unwrap()
                .unwrap()
                .remove(0)
        };
        let (ours, reference) = (generate(format), generate(WeightFormat::F32));
        let equal = ours.iter().zip(&reference).filter(|(a, b)| a == b).count();
        let first = ours.iter().zip(&reference).position(|(a, b)| a != b);
        (equal as f64 / ours.len() as f64, first)
    }
}

#[test]
fn sixteen_bit_weights_keep_the_logits_within_their_documented_bounds() {
    let fixture = Fixture::load();
    for format in WeightFormat::ALL {
        let difference = fixture.logit_difference(format);
        eprintln!("{}: logits {difference:.2e}", format.name());
        assert!(
            difference <= logit_bound(format),
            "{format:?}: {difference:e} > {:e}",
            logit_bound(format)
        );
    }
    // Rounding the weights changes the numbers: a bound that float32 itself would meet
    // is no check.
    assert!(fixture.logit_difference(WeightFormat::F16) > 0.0);
    assert_eq!(
        fixture.equal_samples(WeightFormat::F32, HOP_LENGTH),
        (1.0, None)
    );
}

/// The figures `docs/performance.md` quotes, over a 4-second note; about a minute in a
/// release build: `cargo test --release -p host-tools --lib weight_format_figures --
/// --ignored --nocapture`.
#[test]
#[ignore = "a minute in a release build; prints the figures behind --weights"]
fn weight_format_figures() {
    let fixture = Fixture::load();
    for format in WeightFormat::ALL {
        let (equal, first) = fixture.equal_samples(format, 64_000);
        eprintln!(
            "{}: logits {:.2e} (relative); over 4 s, {:.1}% of samples equal to f32's, the \
             first different {first:?}",
            format.name(),
            fixture.logit_difference(format),
            100.0 * equal
        );
    }
}
