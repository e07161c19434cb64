//! The NSynth WaveNet autoencoder (Magenta's `h512_bo16`) on the CPU: weights loaded by their
//! Magenta names from any [`TensorSource`](crate::tensor::TensorSource), the non-causal encoder
//! (audio → embeddings), the teacher-forced decoder (audio + embeddings → logits, the training
//! graph) and incremental generation with per-layer histories for batches of notes. Numbers
//! follow Magenta's float32 graph to rounding; this module never reads files or prints.

#[cfg(test)]
mod accuracy;
mod activation;
mod conv;
mod decoder;
mod encoder;
mod error;
mod gemm;
mod generator;
mod history;
mod linear;
pub mod mulaw;
mod packed;
mod random;
mod rng;
mod sampling;
mod shape;
mod stages;
#[cfg(test)]
pub(crate) mod testing;
mod weights;

pub(crate) use decoder::teacher_forcing_frames;
pub use error::ModelError;
pub(crate) use generator::note_lengths;
pub use generator::{generate, generate_with, Decoding, Generator, Note};
pub(crate) use linear::Linear;
pub use packed::{tile_kernel, WeightFormat};
pub use random::RandomWeights;
pub(crate) use rng::{fnv1a, mix};
pub use sampling::sample_class;
pub use shape::{ModelShape, VariableSpec, HOP_LENGTH};
pub use stages::{GivenStages, Stages};
pub(crate) use weights::DecoderLayer;
pub use weights::Model;
