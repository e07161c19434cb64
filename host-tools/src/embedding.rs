//! The NSynth embedding as host-tools passes it between the encoder, the files and the decoder:
//! `frames × 16` values, one frame per 512 samples of 16 kHz audio. It holds values only; reading
//! and writing `.npy` files is `npy`'s job and computing embeddings is the model's.

use crate::tensor::Tensor;

/// Values per frame (the encoder's bottleneck width).
pub const CHANNELS: usize = 16;

/// Audio samples per frame (the encoder's pooling hop).
pub const HOP_LENGTH: usize = 512;

/// An embedding: `frames` rows of [`CHANNELS`] values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    frames: usize,
    values: Vec<f32>,
}

impl Embedding {
    /// An embedding of `values.len() / 16` frames; `None` unless the length is a whole, non-zero
    /// number of frames.
    pub fn new(values: Vec<f32>) -> Option<Self> {
        let frames = values.len() / CHANNELS;
        (frames > 0 && values.len() == frames * CHANNELS).then_some(Self { frames, values })
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Audio samples this embedding conditions: `frames × 512`.
    pub fn samples(&self) -> usize {
        self.frames * HOP_LENGTH
    }

    /// All values, frame after frame.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The 16 values of frame `k`.
    pub fn frame(&self, k: usize) -> &[f32] {
        &self.values[k * CHANNELS..(k + 1) * CHANNELS]
    }
}

/// The model side sees an embedding as a `[frames, 16]` tensor.
impl From<Embedding> for Tensor {
    fn from(embedding: Embedding) -> Self {
        Tensor {
            shape: vec![embedding.frames, CHANNELS],
            data: embedding.values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_frames_make_an_embedding() {
        assert!(Embedding::new(vec![0.0; 32]).is_some());
        assert!(Embedding::new(vec![0.0; 33]).is_none());
        assert!(Embedding::new(Vec::new()).is_none());
    }

    #[test]
    fn frames_and_samples_follow_the_hop() {
        let values: Vec<f32> = (0..48).map(|v| v as f32).collect();
        let embedding = Embedding::new(values).unwrap();
        assert_eq!(embedding.frames(), 3);
        assert_eq!(embedding.samples(), 1536);
        assert_eq!(embedding.frame(1)[0], 16.0);
        let tensor = Tensor::from(embedding);
        assert_eq!(tensor.shape, vec![3, 16]);
    }
}
