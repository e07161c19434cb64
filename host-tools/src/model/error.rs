//! The one error type of the model: what went wrong loading variables or feeding the network,
//! naming the variable, the expected shape and what was found. It never formats for the user's
//! terminal beyond `Display`; context (file names) is added at the binary's edge.

use thiserror::Error;

use super::stages::StackLayers;

#[derive(Debug, Error)]
pub enum ModelError {
    /// The tensor source could not produce a variable (absent, unreadable, wrong dtype).
    #[error("model variable {name}: {cause}")]
    Variable {
        name: String,
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A variable is there but its shape disagrees with the rest of the model.
    #[error("{name}: expected shape {expected:?}, found {found:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A variable from which the model's widths are read has the wrong rank or layout.
    #[error("{name}: expected a shape like {expected}, found {found:?}")]
    Layout {
        name: String,
        expected: &'static str,
        found: Vec<usize>,
    },
    /// A dimension read from a first variable cannot be used at all.
    #[error("{name}: {what} is {found}, but the model needs {needed}")]
    Unsupported {
        name: String,
        what: &'static str,
        found: usize,
        needed: &'static str,
    },
    /// Layers are numbered 1..=n without gaps; one in the middle is missing.
    #[error("{prefix}{missing}/W is missing, but {prefix}{last}/W exists (layers are numbered 1..={last})")]
    LayerGap {
        prefix: &'static str,
        missing: usize,
        last: usize,
    },
    /// A dilation cycle the caller gave cannot be the checkpoint's.
    #[error(
        "--{}-stages {given} contradicts the checkpoint: {layers} fit {} only",
        layers.stack,
        layers.fits()
    )]
    StagesContradict { given: usize, layers: StackLayers },
    /// A stack's layer count allows several dilation cycles and the caller gave none.
    #[error(
        "the checkpoint does not say how many of {layers} form one dilation cycle: {} fit; give \
         it with --{}-stages",
        layers.fits(),
        layers.stack
    )]
    StagesAmbiguous { layers: StackLayers },
    /// A hyper-parameter passed by the caller is out of range.
    #[error("{what} must be at least 1")]
    ZeroParameter { what: &'static str },
    /// Audio for the encoder must be a non-empty whole number of hops.
    #[error(
        "the encoder needs a non-empty multiple of {hop} samples, got {samples} (trim it first)"
    )]
    AudioLength { samples: usize, hop: usize },
    /// An embedding's length is not a whole number of frames of the bottleneck width.
    #[error("embedding {index}: {values} values is not a whole number of {width}-wide frames")]
    EmbeddingWidth {
        index: usize,
        values: usize,
        width: usize,
    },
    /// The audio is longer than its embedding's frames cover.
    #[error("{samples} samples need {needed} embedding frames of {hop} samples, but only {frames} were given")]
    TooFewFrames {
        samples: usize,
        needed: usize,
        frames: usize,
        hop: usize,
    },
    /// A batched call got a different number of rows than the generator was built for.
    #[error("expected {expected} values (one per batch row times {per_row}), got {found}")]
    BatchSize {
        expected: usize,
        per_row: usize,
        found: usize,
    },
    #[error("note {index} resumes from {prefix} samples, but it only has {samples}")]
    LongPrefix {
        index: usize,
        prefix: usize,
        samples: usize,
    },
    /// Rows stepped together must be equally long.
    #[error("row {index} has {samples} samples, the first {expected}")]
    RaggedRows {
        index: usize,
        samples: usize,
        expected: usize,
    },
    /// A weight too large for the 16-bit format asked for.
    #[error(
        "the decoder has weights beyond {format}'s range (±65 504): use --weights bf16 or f32"
    )]
    WeightRange { format: &'static str },
}
