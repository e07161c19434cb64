//! The WaveNet decoder in its parallel, teacher-forced form (spec §3): every output sample is
//! predicted from the true previous samples at once, exactly as Magenta's full training graph
//! computes it. This is the reference the incremental generator must agree with; it is not
//! used to generate audio. It never samples.

use crate::tensor::Tensor;

use super::activation::{add_bias, gate, relu};
use super::conv::conv_over_time;
use super::error::ModelError;
use super::gemm::MatRef;
use super::linear::Linear;
use super::mulaw::{network_input, CLASSES};
use super::shape::HOP_LENGTH;
use super::weights::Model;

impl Model {
    /// Logits `[samples, 256]` for every sample of `audio` given the samples before it
    /// (shifted right by one, the first input 0) and the conditioning `embedding`
    /// (`[frames, bottleneck]` row-major; sample `t` uses frame `t / 512`). The audio may be
    /// shorter than the frames cover, not longer. Memory grows as `samples × (5·width + 3·skip)`
    /// floats: about 0.8 GB for a 4-second note of the released model.
    pub fn teacher_forced_logits(
        &self,
        audio: &[f32],
        embedding: &[f32],
    ) -> Result<Tensor, ModelError> {
        let shape = self.shape();
        let needed = teacher_forcing_frames(audio.len(), embedding, shape.bottleneck_width, 0)?;
        let samples = audio.len();
        let decoder = &self.decoder;
        let width = shape.decoder_width;
        let skip_width = shape.skip_width;
        let taps = shape.filter_length;
        let causal = |dilation: usize| move |tap: usize| -(((taps - 1 - tap) * dilation) as isize);

        let mut shifted = vec![0.0; samples];
        for (v, &x) in shifted.iter_mut().skip(1).zip(audio) {
            *v = network_input(x);
        }
        let mut residual = vec![0.0; samples * width];
        conv_over_time(
            &shifted,
            samples,
            1,
            &decoder.start,
            causal(1),
            &mut residual,
        );
        let mut skip = vec![0.0; samples * skip_width];
        decoder.skip_start.apply(&residual, samples, &mut skip);

        let mut z = vec![0.0; samples * 2 * width];
        let mut gated = vec![0.0; samples * width];
        let mut per_frame = vec![0.0; needed * 2 * width];
        let embedding = &embedding[..needed * shape.bottleneck_width];
        for (index, layer) in decoder.layers.iter().enumerate() {
            conv_over_time(
                &residual,
                samples,
                width,
                &layer.conv,
                causal(layer.dilation),
                &mut z,
            );
            add_per_frame(&mut z, &layer.cond, embedding, &mut per_frame);
            gate(&z, &mut gated, width);
            let gated = MatRef::dense(&gated, samples, width);
            // The last layer's residual output is never read (Magenta's res_30 is untrained).
            if index + 1 < decoder.layers.len() {
                layer.res.accumulate(gated, &mut residual);
            }
            layer.skip.accumulate(gated, &mut skip);
        }
        relu(&mut skip);
        let mut hidden = vec![0.0; samples * skip_width];
        decoder.out1.apply(&skip, samples, &mut hidden);
        add_per_frame(
            &mut hidden,
            &decoder.cond_out,
            embedding,
            &mut per_frame[..needed * skip_width],
        );
        relu(&mut hidden);
        let mut logits = vec![0.0; samples * CLASSES];
        decoder.logits.apply(&hidden, samples, &mut logits);
        Ok(Tensor {
            shape: vec![samples, CLASSES],
            data: logits,
        })
    }
}

/// The frames `samples` of teacher-forced audio read, checked to be in `embedding` (rows
/// `width` wide; it may hold more; `index` names it in the error).
pub(crate) fn teacher_forcing_frames(
    samples: usize,
    embedding: &[f32],
    width: usize,
    index: usize,
) -> Result<usize, ModelError> {
    let frames = embedding_frames(embedding, width, index)?;
    let needed = samples.div_ceil(HOP_LENGTH);
    if needed > frames {
        return Err(ModelError::TooFewFrames {
            samples,
            needed,
            frames,
            hop: HOP_LENGTH,
        });
    }
    Ok(needed)
}

/// Frames in an embedding of `width`-wide rows (`index` names it in the error).
pub(crate) fn embedding_frames(
    embedding: &[f32],
    width: usize,
    index: usize,
) -> Result<usize, ModelError> {
    if !embedding.len().is_multiple_of(width) {
        return Err(ModelError::EmbeddingWidth {
            index,
            values: embedding.len(),
            width,
        });
    }
    Ok(embedding.len() / width)
}

/// `rows[t] += cond(embedding[t / 512])`, projecting each frame once into `per_frame`.
fn add_per_frame(rows: &mut [f32], cond: &Linear, embedding: &[f32], per_frame: &mut [f32]) {
    let frames = embedding.len() / cond.inputs;
    cond.apply(embedding, frames, per_frame);
    let width = cond.outputs;
    for (hop, projection) in rows
        .chunks_mut(HOP_LENGTH * width)
        .zip(per_frame.chunks_exact(width))
    {
        add_bias(hop, projection);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        max_relative_difference, naive_decode, test_audio, tiny_shape, MapSource,
    };
    use super::*;

    #[test]
    fn the_decoder_matches_a_direct_loop_implementation() {
        let shape = tiny_shape();
        let source = MapSource::random(&shape, 21);
        let model = Model::load(&source, shape.stages).unwrap();
        let audio = test_audio(2 * HOP_LENGTH + 100, 8);
        let embedding = model.encode(&test_audio(3 * HOP_LENGTH, 9)).unwrap();
        let fast = model
            .teacher_forced_logits(&audio, &embedding.data)
            .unwrap();
        assert_eq!(fast.shape, vec![audio.len(), CLASSES]);
        let frames: Vec<Vec<f32>> = embedding
            .data
            .chunks(shape.bottleneck_width)
            .map(<[f32]>::to_vec)
            .collect();
        let naive = naive_decode(&source, &shape, &audio, &frames).concat();
        let difference = max_relative_difference(&fast.data, &naive);
        assert!(difference < 1e-5, "decoder differs by {difference}");
    }

    #[test]
    fn a_sample_never_sees_itself_or_the_future() {
        let shape = tiny_shape();
        let model = Model::load(&MapSource::random(&shape, 21), shape.stages).unwrap();
        let embedding = vec![0.25; 2 * shape.bottleneck_width];
        let audio = test_audio(2 * HOP_LENGTH, 3);
        let mut changed = audio.clone();
        changed[700] = -changed[700] - 0.5;
        let before = model.teacher_forced_logits(&audio, &embedding).unwrap();
        let after = model.teacher_forced_logits(&changed, &embedding).unwrap();
        assert_eq!(before.data[..701 * CLASSES], after.data[..701 * CLASSES]);
        assert_ne!(
            before.data[701 * CLASSES..702 * CLASSES],
            after.data[701 * CLASSES..702 * CLASSES]
        );
    }

    #[test]
    fn embeddings_must_cover_the_audio() {
        let shape = tiny_shape();
        let model = Model::load(&MapSource::random(&shape, 21), shape.stages).unwrap();
        let one_frame = vec![0.0; shape.bottleneck_width];
        let error = model
            .teacher_forced_logits(&vec![0.0; HOP_LENGTH + 1], &one_frame)
            .unwrap_err();
        assert!(
            matches!(
                error,
                ModelError::TooFewFrames {
                    needed: 2,
                    frames: 1,
                    ..
                }
            ),
            "{error}"
        );
        let error = model
            .teacher_forced_logits(&[0.0; 4], &one_frame[1..])
            .unwrap_err();
        assert!(
            matches!(
                error,
                ModelError::EmbeddingWidth {
                    values: 3,
                    width: 4,
                    ..
                }
            ),
            "{error}"
        );
    }
}
