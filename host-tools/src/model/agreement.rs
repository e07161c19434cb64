//! Agreement with Magenta: a small autoencoder built by `tests/fixtures/magenta_tiny.py` from
//! Magenta's own TensorFlow functions, with random weights under the released names, and the
//! levels, embeddings and logits TensorFlow computed from them. Every path of this module must
//! reproduce those numbers.

use safetensors::{Dtype, SafeTensors};

use crate::tensor::Tensor;

use super::mulaw::{inv_mu_law, mu_law, CLASSES};
use super::testing::{max_relative_difference, MapSource};
use super::{Generator, Model, HOP_LENGTH};

const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/magenta_tiny.safetensors");

/// The fixture's stages (its builder uses dilation `2^(i mod 2)`).
const STAGES: usize = 2;

struct Fixture {
    model: Model,
    values: MapSource,
}

impl Fixture {
    fn load() -> Self {
        let file = SafeTensors::deserialize(FIXTURE).unwrap();
        let mut weights = MapSource::default();
        let mut values = MapSource::default();
        for (name, view) in file.tensors() {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let tensor = Tensor::new(view.shape().to_vec(), data).unwrap();
            match name.strip_prefix("fixture/") {
                Some(value) => values.0.insert(value.into(), tensor),
                None => weights.0.insert(name, tensor),
            };
        }
        Self {
            model: Model::load(&weights, STAGES).unwrap(),
            values,
        }
    }

    fn get(&self, name: &str) -> Vec<f32> {
        self.values.0[name].data.clone()
    }
}

/// `128 · sign(x) · ln(1 + 255|x|) / ln 256` in double precision: the level before the floor.
fn exact_companded(x: f32) -> f64 {
    let x = f64::from(x);
    128.0 * x.signum() * (255.0 * x.abs()).ln_1p() / 256f64.ln()
}

#[test]
fn mu_law_levels_equal_tensorflows_except_within_rounding_of_a_boundary() {
    let fixture = Fixture::load();
    let audio = fixture.get("audio");
    let levels: Vec<f32> = audio.iter().map(|&x| mu_law(x) as f32).collect();
    assert_eq!(levels, fixture.get("levels"));

    // Inputs placed on and next to every level boundary: float32 logarithms (TensorFlow's and
    // ours) may round either way there, but nowhere else.
    let sweep = fixture.get("sweep");
    let expected = fixture.get("sweep_levels");
    for (&x, &tf_level) in sweep.iter().zip(&expected) {
        let ours = mu_law(x) as f32;
        if ours != tf_level {
            let exact = exact_companded(x);
            assert!(
                (ours - tf_level).abs() == 1.0 && (exact - exact.round()).abs() < 1e-4,
                "x = {x}: ours {ours}, TensorFlow {tf_level}, exact {exact}"
            );
        }
    }
}

#[test]
fn every_16_bit_sample_gets_the_exact_level() {
    // TensorFlow gives the exact (double precision) level for all 65 536 of them, as the
    // fixture script checks; so must we.
    for sample in i16::MIN..=i16::MAX {
        let x = f32::from(sample) / 32768.0;
        assert_eq!(
            f64::from(mu_law(x)),
            exact_companded(x).floor(),
            "sample {sample}"
        );
    }
}

#[test]
fn every_level_decodes_to_magentas_audio_value() {
    // Magenta computes `256^|y|` with NumPy's float32 power, which is not the C library's
    // `powf` on every build (SIMD versions differ in the last bit). One ulp of that power is
    // all that may differ, amplified near 0 by the `− 1`; q = 0 must be exactly 0.
    let fixture = Fixture::load();
    for (q, magenta) in (-128..=128).zip(fixture.get("inverse_levels")) {
        let y = (q as f32 + 0.5) * 2.0 / 256.0;
        let power_ulp = 256f32.powf(y.abs()) * f32::EPSILON;
        let ours = inv_mu_law(q);
        assert!(
            (ours - magenta).abs() <= 2.0 * power_ulp / 255.0,
            "level {q}: ours {ours}, Magenta {magenta}"
        );
    }
    assert_eq!(inv_mu_law(0).to_bits(), 0);
}

#[test]
fn the_encoder_reproduces_tensorflows_embedding() {
    let fixture = Fixture::load();
    let embedding = fixture.model.encode(&fixture.get("audio")).unwrap();
    assert_eq!(embedding.shape, vec![2, 4]);
    let difference = max_relative_difference(&embedding.data, &fixture.get("encoding"));
    assert!(difference < 1e-5, "embedding differs by {difference}");
}

/// TensorFlow's logits at the fixture's rows.
fn expected_rows(fixture: &Fixture) -> Vec<(usize, Vec<f32>)> {
    let rows = fixture.get("logit_rows");
    let logits = fixture.get("logits");
    rows.iter()
        .map(|&row| row as usize)
        .zip(logits.chunks_exact(CLASSES).map(<[f32]>::to_vec))
        .collect()
}

#[test]
fn the_teacher_forced_decoder_reproduces_tensorflows_logits() {
    let fixture = Fixture::load();
    let logits = fixture
        .model
        .teacher_forced_logits(&fixture.get("audio"), &fixture.get("encoding"))
        .unwrap();
    for (row, expected) in expected_rows(&fixture) {
        let ours = &logits.data[row * CLASSES..(row + 1) * CLASSES];
        let difference = max_relative_difference(ours, &expected);
        assert!(difference < 1e-5, "row {row} differs by {difference}");
    }
}

#[test]
fn incremental_steps_reproduce_tensorflows_logits() {
    let fixture = Fixture::load();
    let audio = fixture.get("audio");
    let encoding = fixture.get("encoding");
    let width = fixture.model.shape().bottleneck_width;
    let expected = expected_rows(&fixture);
    let mut generator = Generator::new(&fixture.model, 1).unwrap();
    let mut checked = 0;
    for time in 0..audio.len() {
        if time % HOP_LENGTH == 0 {
            let frame = time / HOP_LENGTH;
            generator
                .set_conditioning(&encoding[frame * width..(frame + 1) * width])
                .unwrap();
        }
        let previous = if time == 0 { 0.0 } else { audio[time - 1] };
        let logits = generator.step(&[previous]).unwrap();
        if let Some((_, row)) = expected.iter().find(|(row, _)| *row == time) {
            let difference = max_relative_difference(logits, row);
            assert!(difference < 1e-5, "step {time} differs by {difference}");
            checked += 1;
        }
    }
    assert_eq!(checked, expected.len());
}
