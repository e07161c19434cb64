//! Test support shared by the model's unit tests: tiny model shapes, an editable in-memory tensor
//! source, the small TensorFlow-made fixture model with its recording, and naive reference
//! implementations of the encoder and decoder written as direct loops over the raw Magenta
//! tensors, independent of the fast code's weight layout.

use std::collections::BTreeMap;

use crate::tensor::{Tensor, TensorSource};

use super::mulaw::network_input;
use super::random::RandomWeights;
use super::shape::{ModelShape, HOP_LENGTH};
use super::stages::Stages;
use super::weights::Model;

/// The fixture model (Magenta's graph at a small width, `tests/fixtures/nsynth_small`), its
/// recording as the encoder reads it, and that recording's embedding.
pub struct SmallFixture {
    pub model: Model,
    pub audio: Vec<f32>,
    pub embedding: Vec<f32>,
}

pub fn nsynth_small() -> SmallFixture {
    let folder =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nsynth_small");
    let checkpoint = crate::checkpoint::TfCheckpoint::open(&folder.join("model.ckpt")).unwrap();
    let stages = Stages {
        encoder: 3,
        decoder: 4,
    };
    let embedding = crate::npy::read_embedding(&folder.join("embeddings.npy")).unwrap();
    SmallFixture {
        model: Model::load(&checkpoint, stages).unwrap(),
        audio: crate::audio::load_for_encoding(&folder.join("input.wav"), 64_000).unwrap(),
        embedding: embedding.values().to_vec(),
    }
}

/// The share of samples equal between two sets of notes, over all of them.
pub fn equal_share(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let (mut equal, mut total) = (0, 0);
    for (a, b) in a.iter().zip(b) {
        assert_eq!(a.len(), b.len());
        equal += a.iter().zip(b).filter(|(x, y)| x == y).count();
        total += a.len();
    }
    equal as f64 / total as f64
}

/// A small model: 4 encoder layers, 4 decoder layers, both in two dilation cycles of 2.
pub fn tiny_shape() -> ModelShape {
    ModelShape {
        filter_length: 3,
        encoder_width: 8,
        encoder_layers: 4,
        bottleneck_width: 4,
        decoder_width: 16,
        skip_width: 12,
        decoder_layers: 4,
        stages: Stages {
            encoder: 2,
            decoder: 2,
        },
    }
}

/// Variables by name, editable by tests.
#[derive(Debug, Clone, Default)]
pub struct MapSource(pub BTreeMap<String, Tensor>);

impl MapSource {
    pub fn random(shape: &ModelShape, seed: u64) -> Self {
        let random = RandomWeights::new(shape.clone(), seed);
        Self(
            random
                .names()
                .into_iter()
                .map(|name| {
                    let tensor = random.tensor(&name).unwrap();
                    (name, tensor)
                })
                .collect(),
        )
    }
}

impl TensorSource for MapSource {
    fn tensor(&self, name: &str) -> anyhow::Result<Tensor> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no variable named {name:?} in the test map"))
    }

    fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

/// Audio with some of everything: a decaying chirp plus a little deterministic noise.
pub fn test_audio(samples: usize, seed: u64) -> Vec<f32> {
    let mut rng = super::rng::SplitMix64::new(seed);
    (0..samples)
        .map(|t| {
            let time = t as f32 / 16_000.0;
            let tone = (2.0 * std::f32::consts::PI * (220.0 + 400.0 * time) * time).sin();
            0.6 * tone * (-3.0 * time).exp() + rng.symmetric(0.05)
        })
        .collect()
}

/// `W[0, tap, i, o]` of a [1, taps, in, out] tensor.
fn kernel(w: &Tensor, tap: usize, i: usize, o: usize) -> f32 {
    let (ins, outs) = (w.shape[2], w.shape[3]);
    w.data[(tap * ins + i) * outs + o]
}

/// `y[t] = b + Σ_taps Σ_i W[tap, i, o] · x[t + offset(tap)]`, zero outside the signal.
fn conv(x: &[Vec<f32>], w: &Tensor, b: &Tensor, offset: impl Fn(usize) -> isize) -> Vec<Vec<f32>> {
    let (taps, outs) = (w.shape[1], w.shape[3]);
    (0..x.len())
        .map(|t| {
            (0..outs)
                .map(|o| {
                    let mut sum = b.data[o];
                    for tap in 0..taps {
                        let s = t as isize + offset(tap);
                        if s < 0 || s >= x.len() as isize {
                            continue;
                        }
                        for (i, &value) in x[s as usize].iter().enumerate() {
                            sum += kernel(w, tap, i, o) * value;
                        }
                    }
                    sum
                })
                .collect()
        })
        .collect()
}

fn add(a: &mut [Vec<f32>], b: &[Vec<f32>]) {
    for (row, other) in a.iter_mut().zip(b) {
        for (x, y) in row.iter_mut().zip(other) {
            *x += y;
        }
    }
}

fn relu(a: &[Vec<f32>]) -> Vec<Vec<f32>> {
    a.iter()
        .map(|row| row.iter().map(|x| x.max(0.0)).collect())
        .collect()
}

/// Spec §2 word for word: [frames][bottleneck].
pub fn naive_encode(source: &dyn TensorSource, shape: &ModelShape, audio: &[f32]) -> Vec<Vec<f32>> {
    let get = |name: &str| source.tensor(name).unwrap();
    let half = (shape.filter_length / 2) as isize;
    let same = |d: usize| move |tap: usize| (tap as isize - half) * d as isize;
    let u: Vec<Vec<f32>> = audio.iter().map(|&x| vec![network_input(x)]).collect();
    let mut en = conv(
        &u,
        &get("ae_startconv/W"),
        &get("ae_startconv/biases"),
        same(1),
    );
    for j in 1..=shape.encoder_layers {
        let d = shape.encoder_dilation(j - 1);
        let r = relu(&conv(
            &relu(&en),
            &get(&format!("ae_dilatedconv_{j}/W")),
            &get(&format!("ae_dilatedconv_{j}/biases")),
            same(d),
        ));
        let res = conv(
            &r,
            &get(&format!("ae_res_{j}/W")),
            &get(&format!("ae_res_{j}/biases")),
            |_| 0,
        );
        add(&mut en, &res);
    }
    let z = conv(
        &en,
        &get("ae_bottleneck/W"),
        &get("ae_bottleneck/biases"),
        |_| 0,
    );
    z.chunks(HOP_LENGTH)
        .map(|frame| {
            (0..shape.bottleneck_width)
                .map(|c| frame.iter().map(|row| row[c]).sum::<f32>() / HOP_LENGTH as f32)
                .collect()
        })
        .collect()
}

/// Spec §3 word for word: logits [T][256] for `audio` under `embedding` [frames][bottleneck].
pub fn naive_decode(
    source: &dyn TensorSource,
    shape: &ModelShape,
    audio: &[f32],
    embedding: &[Vec<f32>],
) -> Vec<Vec<f32>> {
    let get = |name: &str| source.tensor(name).unwrap();
    let last = shape.filter_length - 1;
    let causal = |d: usize| move |tap: usize| -(((last - tap) * d) as isize);
    let cond_rows: Vec<Vec<f32>> = (0..audio.len())
        .map(|t| embedding[t / HOP_LENGTH].clone())
        .collect();
    let mut v = vec![vec![0.0]; audio.len()];
    for t in 1..audio.len() {
        v[t][0] = network_input(audio[t - 1]);
    }
    let mut l = conv(&v, &get("startconv/W"), &get("startconv/biases"), causal(1));
    let mut s = conv(&l, &get("skip_start/W"), &get("skip_start/biases"), |_| 0);
    let r = shape.decoder_width;
    for i in 1..=shape.decoder_layers {
        let mut z = conv(
            &l,
            &get(&format!("dilatedconv_{i}/W")),
            &get(&format!("dilatedconv_{i}/biases")),
            causal(shape.decoder_dilation(i - 1)),
        );
        let cond = conv(
            &cond_rows,
            &get(&format!("cond_map_{i}/W")),
            &get(&format!("cond_map_{i}/biases")),
            |_| 0,
        );
        add(&mut z, &cond);
        let g: Vec<Vec<f32>> = z
            .iter()
            .map(|row| {
                (0..r)
                    .map(|c| (1.0 / (1.0 + (-row[c]).exp())) * row[r + c].tanh())
                    .collect()
            })
            .collect();
        let res = conv(
            &g,
            &get(&format!("res_{i}/W")),
            &get(&format!("res_{i}/biases")),
            |_| 0,
        );
        add(&mut l, &res);
        let skip = conv(
            &g,
            &get(&format!("skip_{i}/W")),
            &get(&format!("skip_{i}/biases")),
            |_| 0,
        );
        add(&mut s, &skip);
    }
    let mut h = conv(&relu(&s), &get("out1/W"), &get("out1/biases"), |_| 0);
    let cond = conv(
        &cond_rows,
        &get("cond_map_out1/W"),
        &get("cond_map_out1/biases"),
        |_| 0,
    );
    add(&mut h, &cond);
    conv(&relu(&h), &get("logits/W"), &get("logits/biases"), |_| 0)
}

/// Largest |a − b| / (1 + |b|) over two equally long sequences.
pub fn max_relative_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}
