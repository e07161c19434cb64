//! The non-causal temporal encoder (spec §2): audio → mu-law levels / 128 → a start conv, 30
//! residual layers of ReLU, dilated "same" conv, ReLU and 1×1 conv added to the stream, a 1×1
//! bottleneck, and a mean over each 512-sample hop. Each conv is a few shifted matrix products
//! over the whole signal. It never trims or resamples audio: callers pass whole hops.

use crate::tensor::Tensor;

use super::activation::relu;
use super::conv::conv_over_time;
use super::error::ModelError;
use super::gemm::MatRef;
use super::mulaw::network_input;
use super::shape::HOP_LENGTH;
use super::weights::Model;

impl Model {
    /// The embedding of `audio` (float samples, nominally −1..1, a non-empty multiple of 512
    /// long): a `[samples / 512, bottleneck]` tensor, as Magenta's `encode` for one note.
    pub fn encode(&self, audio: &[f32]) -> Result<Tensor, ModelError> {
        let samples = audio.len();
        if samples == 0 || !samples.is_multiple_of(HOP_LENGTH) {
            return Err(ModelError::AudioLength {
                samples,
                hop: HOP_LENGTH,
            });
        }
        let encoder = &self.encoder;
        let width = encoder.start.outputs;
        let input: Vec<f32> = audio.iter().map(|&x| network_input(x)).collect();
        let mut stream = vec![0.0; samples * width];
        let half = (self.shape().filter_length / 2) as isize;
        let same = |dilation: usize| move |tap: usize| (tap as isize - half) * dilation as isize;
        conv_over_time(&input, samples, 1, &encoder.start, same(1), &mut stream);
        let mut rectified = vec![0.0; samples * width];
        let mut conv_out = vec![0.0; samples * width];
        for layer in &encoder.layers {
            rectified.copy_from_slice(&stream);
            relu(&mut rectified);
            conv_over_time(
                &rectified,
                samples,
                width,
                &layer.conv,
                same(layer.dilation),
                &mut conv_out,
            );
            relu(&mut conv_out);
            let rectified_out = MatRef::dense(&conv_out, samples, width);
            layer.res.accumulate(rectified_out, &mut stream);
        }
        let bottleneck = &encoder.bottleneck;
        let mut z = vec![0.0; samples * bottleneck.outputs];
        bottleneck.apply(&stream, samples, &mut z);
        let frames = samples / HOP_LENGTH;
        Ok(Tensor {
            shape: vec![frames, bottleneck.outputs],
            data: mean_per_hop(&z, bottleneck.outputs),
        })
    }
}

/// Mean of every `HOP_LENGTH` rows of `width` values (TF's average pooling with window = stride
/// on a whole number of windows: no padding effects).
fn mean_per_hop(rows: &[f32], width: usize) -> Vec<f32> {
    let mut means = Vec::with_capacity(rows.len() / HOP_LENGTH);
    for hop in rows.chunks_exact(HOP_LENGTH * width) {
        let mut sums = vec![0.0f32; width];
        for row in hop.chunks_exact(width) {
            sums.iter_mut().zip(row).for_each(|(sum, x)| *sum += x);
        }
        means.extend(sums.iter().map(|sum| sum / HOP_LENGTH as f32));
    }
    means
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        max_relative_difference, naive_encode, test_audio, tiny_shape, MapSource,
    };
    use super::*;

    #[test]
    fn the_encoder_matches_a_direct_loop_implementation() {
        let shape = tiny_shape();
        let source = MapSource::random(&shape, 11);
        let model = Model::load(&source, shape.stages).unwrap();
        let audio = test_audio(3 * HOP_LENGTH, 5);
        let fast = model.encode(&audio).unwrap();
        assert_eq!(fast.shape, vec![3, shape.bottleneck_width]);
        let naive: Vec<f32> = naive_encode(&source, &shape, &audio).concat();
        let difference = max_relative_difference(&fast.data, &naive);
        assert!(difference < 1e-5, "encoder differs by {difference}");
        assert!(
            fast.data.iter().any(|&x| x.abs() > 1e-3),
            "a non-trivial embedding"
        );
    }

    #[test]
    fn frames_only_see_their_receptive_field() {
        // With 3 layers of dilation 1, 2, 1 the half-width is 1 + 1 + 2 + 1 = 5 samples, so
        // changing the last hop must leave frame 0 exactly as it was.
        let shape = tiny_shape();
        let model = Model::load(&MapSource::random(&shape, 11), shape.stages).unwrap();
        let audio = test_audio(3 * HOP_LENGTH, 5);
        let mut changed = audio.clone();
        changed[2 * HOP_LENGTH..].iter_mut().for_each(|x| *x = -*x);
        let before = model.encode(&audio).unwrap();
        let after = model.encode(&changed).unwrap();
        let width = shape.bottleneck_width;
        assert_eq!(before.data[..width], after.data[..width]);
        assert_ne!(before.data[2 * width..], after.data[2 * width..]);
    }

    #[test]
    fn audio_must_be_whole_hops() {
        let shape = tiny_shape();
        let model = Model::load(&MapSource::random(&shape, 11), shape.stages).unwrap();
        for samples in [0, 100, HOP_LENGTH + 1] {
            let error = model.encode(&vec![0.0; samples]).unwrap_err();
            assert!(
                matches!(error, ModelError::AudioLength { samples: s, hop: 512 } if s == samples),
                "{error}"
            );
        }
    }
}
