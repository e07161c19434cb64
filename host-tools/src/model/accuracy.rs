//! What 16-bit weights ([`WeightFormat`]) do to the decoder's output, measured on the fixture
//! model (Magenta's graph at a small width, `tests/fixtures/nsynth_small`): the teacher-forced
//! logits of the fixture recording against float32 weights (largest relative difference,
//! `|a − b| / (1 + |b|)`), and the share of a generated note's samples equal to float32's for
//! the same seed. The bounds asserted here are the ones `--weights` documents.

use super::generator::{generate_with, teacher_forced_steps, Decoding, Note};
use super::packed::WeightFormat;
use super::shape::HOP_LENGTH;
use super::testing::{equal_share, max_relative_difference, nsynth_small, SmallFixture};

/// The largest relative difference of the teacher-forced logits from float32's.
fn logit_bound(format: WeightFormat) -> f32 {
    match format {
        WeightFormat::F32 => 0.0,
        WeightFormat::Bf16 => 5e-2,
        WeightFormat::F16 => 1e-2,
    }
}

/// The fixture and its float32 logits, the reference every format is held against.
struct Fixture {
    fixture: SmallFixture,
    f32_logits: Vec<f32>,
}

impl Fixture {
    fn load() -> Self {
        let fixture = nsynth_small();
        let f32_logits = logits(&fixture, WeightFormat::F32);
        Self {
            fixture,
            f32_logits,
        }
    }

    /// The largest relative difference of the teacher-forced logits of the fixture recording
    /// with weights in `format` from float32's.
    fn logit_difference(&self, format: WeightFormat) -> f32 {
        max_relative_difference(&logits(&self.fixture, format), &self.f32_logits)
    }

    /// A note of `samples` (the fixture's frames over and over, seed 3) with weights in
    /// `format`.
    fn note(&self, format: WeightFormat, samples: usize) -> Vec<f32> {
        let width = self.fixture.model.shape().bottleneck_width;
        let embedding: Vec<f32> = self
            .fixture
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
        let decoding = Decoding {
            weights: format,
            threads: None,
        };
        generate_with(&self.fixture.model, decoding, &note, 4096, |_, _| true)
            .unwrap()
            .unwrap()
            .remove(0)
    }
}

/// The teacher-forced logits of the fixture recording with weights in `format`.
fn logits(fixture: &SmallFixture, format: WeightFormat) -> Vec<f32> {
    teacher_forced_steps(
        &fixture.model,
        format,
        &[&fixture.audio],
        &[&fixture.embedding],
    )
    .unwrap()
    .remove(0)
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
    let note = |format| vec![fixture.note(format, HOP_LENGTH)];
    assert_eq!(
        equal_share(&note(WeightFormat::F32), &note(WeightFormat::F32)),
        1.0
    );
}

/// The figures `docs/performance.md` quotes, over a 4-second note; about a minute in a
/// release build: `cargo test --release -p host-tools --lib weight_format_figures --
/// --ignored --nocapture`.
#[test]
#[ignore = "a minute in a release build; prints the figures behind --weights"]
fn weight_format_figures() {
    let fixture = Fixture::load();
    let reference = fixture.note(WeightFormat::F32, 64_000);
    for format in WeightFormat::ALL {
        let note = fixture.note(format, 64_000);
        let first = note.iter().zip(&reference).position(|(a, b)| a != b);
        eprintln!(
            "{}: logits {:.2e} (relative); over 4 s, {:.1}% of samples equal to f32's, the \
             first different {first:?}",
            format.name(),
            fixture.logit_difference(format),
            100.0 * equal_share(&[note], std::slice::from_ref(&reference))
        );
    }
}
