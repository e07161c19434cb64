//! What identifies a model in the provenance records ([`ModelIdentity`]): for NSynth, the names,
//! types and shapes of the checkpoint's tensors (as one digest), a digest of its index (a
//! TensorFlow checkpoint's `.index` file, which holds every tensor's checksum; a safetensors file
//! whole, since its header holds none) and the dilation cycles it was loaded with; for the sine
//! stand-in of dry runs, just that. It reads the checkpoint's index; it never loads weights or
//! writes anything.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::checkpoint::TensorFile;
use crate::digest::{file_digest, Hasher};
use crate::model::{Stages, WeightFormat};

fn is_f32(format: &WeightFormat) -> bool {
    *format == WeightFormat::F32
}

/// The model that made an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelIdentity {
    /// NSynth, loaded from a checkpoint.
    Nsynth {
        /// Tensors in the checkpoint.
        tensors: usize,
        /// Digest of every tensor's name, type and shape, in name order.
        shapes: String,
        /// Digest of the index file (of the whole file for safetensors).
        index: String,
        /// Layers per dilation cycle of the encoder.
        encoder_stages: usize,
        /// Layers per dilation cycle of the decoder.
        decoder_stages: usize,
        /// How the CPU stored the decoder's weights while generating (`--weights`); float32,
        /// and left out of records, unless a 16-bit format was asked for.
        #[serde(default, skip_serializing_if = "is_f32")]
        weights: WeightFormat,
    },
    /// The sine stand-in of dry runs (`ToneSynthesizer`).
    Tone,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read {path} to identify the model: {cause}")]
pub struct IdentityError {
    path: PathBuf,
    cause: std::io::Error,
}

impl ModelIdentity {
    /// The identity of the model in `file`, loaded with `stages`.
    pub fn of_checkpoint(file: &dyn TensorFile, stages: Stages) -> Result<Self, IdentityError> {
        let mut shapes = Hasher::default();
        for entry in file.entries() {
            shapes.update_str(&entry.name);
            shapes.update_str(&entry.dtype.to_string());
            shapes.update(&(entry.shape.len() as u64).to_le_bytes());
            for &dim in &entry.shape {
                shapes.update(&(dim as u64).to_le_bytes());
            }
        }
        let index = file_digest(file.path()).map_err(|cause| IdentityError {
            path: file.path().to_path_buf(),
            cause,
        })?;
        Ok(ModelIdentity::Nsynth {
            tensors: file.entries().len(),
            shapes: shapes.finish(),
            index,
            encoder_stages: stages.encoder,
            decoder_stages: stages.decoder,
            weights: WeightFormat::F32,
        })
    }

    /// This identity with the decoder's weights stored in `format` while generating.
    pub fn with_weights(mut self, format: WeightFormat) -> Self {
        if let ModelIdentity::Nsynth { weights, .. } = &mut self {
            *weights = format;
        }
        self
    }

    /// Whether this is the stand-in of a dry run rather than NSynth.
    pub fn is_dry_run(&self) -> bool {
        matches!(self, ModelIdentity::Tone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{
        sample, sample_checkpoint, write_bundle, write_safetensors, Checkpoint, DType,
    };

    const STAGES: Stages = Stages {
        encoder: 3,
        decoder: 4,
    };

    #[test]
    fn one_checkpoint_has_one_identity_by_prefix_or_index_and_other_stages_differ() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(dir.path());
        let by_prefix = Checkpoint::open(&prefix).unwrap();
        let mut index = prefix.clone().into_os_string();
        index.push(".index");
        let by_index = Checkpoint::open(index.as_ref()).unwrap();
        let identity = ModelIdentity::of_checkpoint(&by_prefix, STAGES).unwrap();
        assert_eq!(
            identity,
            ModelIdentity::of_checkpoint(&by_index, STAGES).unwrap()
        );
        let ModelIdentity::Nsynth { tensors, .. } = identity else {
            panic!("{identity:?}");
        };
        assert_eq!(tensors, 7);
        let other = Stages {
            encoder: 3,
            decoder: 3,
        };
        assert_ne!(
            identity,
            ModelIdentity::of_checkpoint(&by_prefix, other).unwrap()
        );
        assert!(!identity.is_dry_run());
        assert!(ModelIdentity::Tone.is_dry_run());
    }

    #[test]
    fn other_values_or_another_format_change_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = sample_checkpoint(dir.path());
        let original = Checkpoint::open(&prefix).unwrap();
        let identity = ModelIdentity::of_checkpoint(&original, STAGES).unwrap();

        // The same names and shapes with one value changed: the index's checksums differ.
        let mut tensors = sample();
        tensors
            .insert("logits/biases", DType::F32, vec![3], [0u8; 12].to_vec())
            .unwrap();
        let changed = dir.path().join("changed").join("model.ckpt");
        std::fs::create_dir(changed.parent().unwrap()).unwrap();
        write_bundle(&changed, &tensors, |_| true).unwrap();
        let changed = Checkpoint::open(&changed).unwrap();
        assert_eq!(changed.entries(), original.entries());
        assert_ne!(
            ModelIdentity::of_checkpoint(&changed, STAGES).unwrap(),
            identity
        );

        let converted = dir.path().join("model.safetensors");
        write_safetensors(&converted, &original, |_| true).unwrap();
        let converted = Checkpoint::open(&converted).unwrap();
        assert_ne!(
            ModelIdentity::of_checkpoint(&converted, STAGES).unwrap(),
            identity
        );
    }

    #[test]
    fn sixteen_bit_weights_change_the_identity_and_float32_records_stay_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = Checkpoint::open(&sample_checkpoint(dir.path())).unwrap();
        let identity = ModelIdentity::of_checkpoint(&checkpoint, STAGES).unwrap();
        let text = serde_json::to_string(&identity).unwrap();
        assert!(!text.contains("weights"), "{text}");
        let bf16 = identity.clone().with_weights(WeightFormat::Bf16);
        assert_ne!(bf16, identity);
        let text = serde_json::to_string(&bf16).unwrap();
        assert!(text.contains(r#""weights":"bf16""#), "{text}");
        assert_eq!(serde_json::from_str::<ModelIdentity>(&text).unwrap(), bf16);
        assert_eq!(identity.clone().with_weights(WeightFormat::F32), identity);
    }

    #[test]
    fn an_identity_round_trips_through_json() {
        let identity = ModelIdentity::Nsynth {
            tensors: 2,
            shapes: "sha256:00".into(),
            index: "sha256:11".into(),
            encoder_stages: 10,
            decoder_stages: 10,
            weights: WeightFormat::F32,
        };
        let text = serde_json::to_string(&identity).unwrap();
        assert!(text.starts_with(r#"{"kind":"nsynth","#), "{text}");
        assert_eq!(
            serde_json::from_str::<ModelIdentity>(&text).unwrap(),
            identity
        );
        assert_eq!(
            serde_json::to_string(&ModelIdentity::Tone).unwrap(),
            r#"{"kind":"tone"}"#
        );
    }
}
