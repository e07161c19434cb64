//! The model's hyper-parameters and its variable inventory: which Magenta variables exist, under
//! which names, with which shapes. Widths and layer counts are read from the variables
//! themselves, so a small test model with the same names loads through the same code; the
//! dilation cycles follow from the layer counts (`stages`). It never holds weight values.

use std::collections::BTreeSet;

use crate::tensor::TensorSource;

use super::error::ModelError;
use super::mulaw::CLASSES;
use super::stages::{GivenStages, Stack, Stages};

/// Samples per embedding frame (the encoder's pooling window and stride).
pub const HOP_LENGTH: usize = 512;

/// Hyper-parameters of a WaveNet autoencoder in Magenta's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelShape {
    /// Taps of every dilated convolution (3 in Magenta); odd, so that the encoder's "same"
    /// padding is symmetric.
    pub filter_length: usize,
    /// Channels of the encoder's residual stream (128).
    pub encoder_width: usize,
    /// Encoder residual layers (30).
    pub encoder_layers: usize,
    /// Channels of one embedding frame (16).
    pub bottleneck_width: usize,
    /// Channels of the decoder's residual stream (512); its gates are twice as wide.
    pub decoder_width: usize,
    /// Channels of the decoder's skip stream (256).
    pub skip_width: usize,
    /// Decoder residual layers (30).
    pub decoder_layers: usize,
    /// Layers per dilation cycle of the encoder and of the decoder.
    pub stages: Stages,
}

/// A variable the model reads: its Magenta name and the shape it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

impl ModelShape {
    /// The released `h512_bo16` checkpoint's shape.
    pub fn magenta() -> Self {
        Self {
            filter_length: 3,
            encoder_width: 128,
            encoder_layers: 30,
            bottleneck_width: 16,
            decoder_width: 512,
            skip_width: 256,
            decoder_layers: 30,
            stages: Stages::MAGENTA,
        }
    }

    /// Reads the widths from `ae_startconv/W`, `ae_bottleneck/W`, `startconv/W` and
    /// `skip_start/W`, and counts the `ae_dilatedconv_<n>/W` and `dilatedconv_<n>/W` layers,
    /// which settle the dilation cycles where they can and check the ones `stages` gives (the
    /// rule is in [`GivenStages`]). Only these variables are checked here;
    /// [`Model::load`](super::Model::load) checks every other one.
    pub fn infer(
        source: &dyn TensorSource,
        stages: impl Into<GivenStages>,
    ) -> Result<Self, ModelError> {
        let [_, filter_length, _, encoder_width] = layout(
            source,
            "ae_startconv/W",
            "[1, filter length, 1, encoder width]",
            |d| d[0] == 1 && d[2] == 1,
        )?;
        if filter_length % 2 == 0 {
            return Err(ModelError::Unsupported {
                name: "ae_startconv/W".into(),
                what: "the filter length",
                found: filter_length,
                needed: "an odd number of taps",
            });
        }
        let [_, _, _, bottleneck_width] = layout(
            source,
            "ae_bottleneck/W",
            "[1, 1, encoder width, bottleneck width]",
            |d| d[0] == 1 && d[1] == 1 && d[2] == encoder_width,
        )?;
        let [_, _, _, decoder_width] = layout(
            source,
            "startconv/W",
            "[1, filter length, 1, decoder width]",
            |d| d[0] == 1 && d[1] == filter_length && d[2] == 1,
        )?;
        let [_, _, _, skip_width] = layout(
            source,
            "skip_start/W",
            "[1, 1, decoder width, skip width]",
            |d| d[0] == 1 && d[1] == 1 && d[2] == decoder_width,
        )?;
        let names: BTreeSet<String> = source.names().into_iter().collect();
        let encoder_layers = count_layers(source, &names, Stack::Encoder.prefix())?;
        let decoder_layers = count_layers(source, &names, Stack::Decoder.prefix())?;
        let shape = Self {
            filter_length,
            encoder_width,
            encoder_layers,
            bottleneck_width,
            decoder_width,
            skip_width,
            decoder_layers,
            stages: stages.into().settle(encoder_layers, decoder_layers)?,
        };
        for (name, width) in [
            ("ae_startconv/W", encoder_width),
            ("ae_bottleneck/W", bottleneck_width),
            ("startconv/W", decoder_width),
            ("skip_start/W", skip_width),
        ] {
            if width == 0 {
                return Err(ModelError::Unsupported {
                    name: name.into(),
                    what: "the output width",
                    found: 0,
                    needed: "at least one channel",
                });
            }
        }
        Ok(shape)
    }

    /// Dilation of encoder residual layer `layer` (0-based): `2^(layer mod stages)`.
    pub fn encoder_dilation(&self, layer: usize) -> usize {
        1 << (layer % self.stages.encoder)
    }

    /// Dilation of decoder residual layer `layer` (0-based): `2^(layer mod stages)`.
    pub fn decoder_dilation(&self, layer: usize) -> usize {
        1 << (layer % self.stages.decoder)
    }

    /// Every variable the encoder and decoder read, in Magenta's names, with expected shapes
    /// (124 + 250 for the released model).
    pub fn variables(&self) -> Vec<VariableSpec> {
        let k = self.filter_length;
        let (e, z) = (self.encoder_width, self.bottleneck_width);
        let (r, s) = (self.decoder_width, self.skip_width);
        let mut list = Vec::new();
        let mut conv = |name: String, taps: usize, inputs: usize, outputs: usize| {
            list.push(VariableSpec {
                name: format!("{name}/W"),
                shape: vec![1, taps, inputs, outputs],
            });
            list.push(VariableSpec {
                name: format!("{name}/biases"),
                shape: vec![outputs],
            });
        };
        conv("ae_startconv".into(), k, 1, e);
        for n in 1..=self.encoder_layers {
            conv(format!("ae_dilatedconv_{n}"), k, e, e);
            conv(format!("ae_res_{n}"), 1, e, e);
        }
        conv("ae_bottleneck".into(), 1, e, z);
        conv("startconv".into(), k, 1, r);
        conv("skip_start".into(), 1, r, s);
        for n in 1..=self.decoder_layers {
            conv(format!("dilatedconv_{n}"), k, r, 2 * r);
            conv(format!("cond_map_{n}"), 1, z, 2 * r);
            conv(format!("res_{n}"), 1, r, r);
            conv(format!("skip_{n}"), 1, r, s);
        }
        conv("out1".into(), 1, s, s);
        conv("cond_map_out1".into(), 1, z, s);
        conv("logits".into(), 1, s, CLASSES);
        list
    }
}

/// The dims of a rank-4 variable that passes `fits`, or an error naming `expected`.
fn layout(
    source: &dyn TensorSource,
    name: &str,
    expected: &'static str,
    fits: impl Fn(&[usize; 4]) -> bool,
) -> Result<[usize; 4], ModelError> {
    let tensor = source.tensor(name).map_err(|error| ModelError::Variable {
        name: name.into(),
        cause: error.into(),
    })?;
    match <[usize; 4]>::try_from(tensor.shape.as_slice()) {
        Ok(dims) if fits(&dims) => Ok(dims),
        _ => Err(ModelError::Layout {
            name: name.into(),
            expected,
            found: tensor.shape,
        }),
    }
}

/// Number of layers `<prefix><n>/W`, n = 1, 2, …, requiring no gaps and at least one.
fn count_layers(
    source: &dyn TensorSource,
    names: &BTreeSet<String>,
    prefix: &'static str,
) -> Result<usize, ModelError> {
    let last = names
        .iter()
        .filter_map(|name| {
            name.strip_prefix(prefix)?
                .strip_suffix("/W")?
                .parse::<usize>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    if last == 0 {
        // Let the source say in its own words that the first layer is not there.
        let name = format!("{prefix}1/W");
        return Err(match source.tensor(&name) {
            Err(error) => ModelError::Variable {
                name,
                cause: error.into(),
            },
            Ok(_) => ModelError::Variable {
                name,
                cause: "the source can read it but does not list it in its names".into(),
            },
        });
    }
    match (1..last).find(|n| !names.contains(&format!("{prefix}{n}/W"))) {
        Some(missing) => Err(ModelError::LayerGap {
            prefix,
            missing,
            last,
        }),
        None => Ok(last),
    }
}

#[cfg(test)]
mod tests {
    use super::super::random::RandomWeights;
    use super::super::testing::{tiny_shape, MapSource};
    use super::*;
    use crate::tensor::Tensor;

    #[test]
    fn the_released_model_has_374_variables_and_61_804_048_weights() {
        let variables = ModelShape::magenta().variables();
        assert_eq!(variables.len(), 374);
        let total: usize = variables
            .iter()
            .map(|v| v.shape.iter().product::<usize>())
            .sum();
        assert_eq!(total, 61_804_048);
        let names: BTreeSet<_> = variables.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names.len(), 374, "names are unique");
        assert!(names.contains("res_30/biases"));
        assert!(names.contains("cond_map_out1/W"));
    }

    #[test]
    fn dilations_cycle_through_the_stages() {
        let shape = ModelShape::magenta();
        let dilations: Vec<usize> = (0..30).map(|i| shape.decoder_dilation(i)).collect();
        assert_eq!(
            dilations,
            (0..30)
                .map(|i| shape.encoder_dilation(i))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            &dilations[..11],
            &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1]
        );
        assert_eq!(dilations[29], 512);
    }

    #[test]
    fn shape_is_read_back_from_the_variables() {
        let source = MapSource::random(&tiny_shape(), 1);
        assert_eq!(
            ModelShape::infer(&source, tiny_shape().stages).unwrap(),
            tiny_shape()
        );
        let magenta = RandomWeights::new(ModelShape::magenta(), 1);
        assert_eq!(
            ModelShape::infer(&magenta, Stages::MAGENTA).unwrap(),
            ModelShape::magenta()
        );
    }

    #[test]
    fn a_gap_in_the_layers_is_named() {
        let mut source = MapSource::random(&tiny_shape(), 1);
        source.0.remove("dilatedconv_2/W");
        let error = ModelShape::infer(&source, tiny_shape().stages)
            .unwrap_err()
            .to_string();
        assert!(error.contains("dilatedconv_2/W is missing"), "{error}");
        assert!(error.contains("dilatedconv_4/W exists"), "{error}");
    }

    #[test]
    fn missing_and_misshapen_width_variables_are_named() {
        let mut source = MapSource::random(&tiny_shape(), 1);
        source.0.remove("skip_start/W");
        let error = ModelShape::infer(&source, tiny_shape().stages)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("model variable skip_start/W"), "{error}");

        let mut source = MapSource::random(&tiny_shape(), 1);
        let wrong = Tensor::new(vec![1, 3, 2, 16], vec![0.0; 96]).unwrap();
        source.0.insert("startconv/W".into(), wrong);
        let error = ModelShape::infer(&source, tiny_shape().stages)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "startconv/W: expected a shape like [1, filter length, 1, decoder width], \
             found [1, 3, 2, 16]"
        );

        let mut source = MapSource::random(&tiny_shape(), 1);
        let even = Tensor::new(vec![1, 2, 1, 8], vec![0.0; 16]).unwrap();
        source.0.insert("ae_startconv/W".into(), even);
        let error = ModelShape::infer(&source, tiny_shape().stages)
            .unwrap_err()
            .to_string();
        assert!(error.contains("odd number of taps"), "{error}");
    }

    #[test]
    fn the_released_shape_needs_no_stages_and_refuses_other_ones() {
        let magenta = RandomWeights::new(ModelShape::magenta(), 1);
        assert_eq!(
            ModelShape::infer(&magenta, GivenStages::default()).unwrap(),
            ModelShape::magenta()
        );
        let fifteen = GivenStages {
            encoder: None,
            decoder: Some(15),
        };
        let error = ModelShape::infer(&magenta, fifteen)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "--decoder-stages 15 contradicts the checkpoint: the decoder's 30 dilated layers \
             (dilatedconv_1/W … dilatedconv_30/W) fit the released model's 3 cycles of 10 only"
        );
    }

    #[test]
    fn stages_that_split_layers_into_partial_cycles_are_refused() {
        let source = MapSource::random(&tiny_shape(), 1);
        let three = Stages {
            encoder: 3,
            decoder: 2,
        };
        let error = ModelShape::infer(&source, three).unwrap_err().to_string();
        assert_eq!(
            error,
            "--encoder-stages 3 contradicts the checkpoint: the encoder's 4 dilated layers \
             (ae_dilatedconv_1/W … ae_dilatedconv_4/W) fit whole cycles of 1, 2 or 4 only"
        );
    }

    #[test]
    fn layer_counts_that_several_cycles_divide_need_the_stages() {
        let source = MapSource::random(&tiny_shape(), 1);
        let error = ModelShape::infer(&source, GivenStages::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "the checkpoint does not say how many of the encoder's 4 dilated layers \
             (ae_dilatedconv_1/W … ae_dilatedconv_4/W) form one dilation cycle: whole cycles of \
             1, 2 or 4 fit; give it with --encoder-stages"
        );
        let encoder_only = GivenStages {
            encoder: Some(2),
            decoder: None,
        };
        assert!(matches!(
            ModelShape::infer(&source, encoder_only),
            Err(ModelError::StagesAmbiguous { layers }) if layers.count == 4
        ));
        let both = GivenStages {
            encoder: Some(4),
            decoder: Some(1),
        };
        let shape = ModelShape::infer(&source, both).unwrap();
        assert_eq!(
            shape.stages,
            Stages {
                encoder: 4,
                decoder: 1
            }
        );
        assert_eq!(shape.decoder_dilation(3), 1);
    }

    #[test]
    fn a_single_layer_settles_its_cycle() {
        let mut single = tiny_shape();
        single.encoder_layers = 1;
        let source = MapSource::random(&single, 1);
        let decoder_only = GivenStages {
            encoder: None,
            decoder: Some(2),
        };
        assert_eq!(
            ModelShape::infer(&source, decoder_only).unwrap().stages,
            Stages {
                encoder: 1,
                decoder: 2
            }
        );
    }

    #[test]
    fn zero_stages_is_refused() {
        let source = MapSource::random(&tiny_shape(), 1);
        assert!(matches!(
            ModelShape::infer(
                &source,
                Stages {
                    encoder: 0,
                    decoder: 2
                }
            ),
            Err(ModelError::ZeroParameter { what: "stages" })
        ));
    }
}
