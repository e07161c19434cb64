//! The loaded model: every Magenta variable read by name from a [`TensorSource`], checked
//! against the shape inferred from the source, and kept as [`Linear`] kernels grouped by layer
//! (a conv's taps stacked into one matrix, for one product per layer). It never computes
//! activations and knows no consumer's layout.

use std::collections::BTreeMap;

use crate::tensor::TensorSource;

use super::error::ModelError;
use super::linear::Linear;
use super::shape::ModelShape;
use super::stages::GivenStages;

#[derive(Debug, Clone)]
pub(crate) struct EncoderLayer {
    pub dilation: usize,
    /// `ae_dilatedconv_j`: `[taps·width, width]`.
    pub conv: Linear,
    /// `ae_res_j`: `[width, width]`.
    pub res: Linear,
}

#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    /// `ae_startconv`: `[taps, width]`.
    pub start: Linear,
    pub layers: Vec<EncoderLayer>,
    /// `ae_bottleneck`: `[width, bottleneck]`.
    pub bottleneck: Linear,
}

#[derive(Debug, Clone)]
pub(crate) struct DecoderLayer {
    pub dilation: usize,
    /// `dilatedconv_i`: `[taps·width, 2·width]`; gate columns `0..width` go through the sigmoid,
    /// `width..2·width` through tanh.
    pub conv: Linear,
    /// `cond_map_i`: `[bottleneck, 2·width]`.
    pub cond: Linear,
    /// `res_i`: `[width, width]`.
    pub res: Linear,
    /// `skip_i`: `[width, skip]`.
    pub skip: Linear,
}

#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    /// `startconv`: `[taps, width]`.
    pub start: Linear,
    /// `skip_start`: `[width, skip]`.
    pub skip_start: Linear,
    pub layers: Vec<DecoderLayer>,
    /// `out1`: `[skip, skip]`.
    pub out1: Linear,
    /// `cond_map_out1`: `[bottleneck, skip]`.
    pub cond_out: Linear,
    /// `logits`: `[skip, 256]`.
    pub logits: Linear,
}

impl Decoder {
    /// Every kernel the generator multiplies by: all but the last layer's `res`, whose output
    /// is never read (Magenta's `res_30` is untrained).
    pub fn linears(&self) -> impl Iterator<Item = &Linear> {
        let last = self.layers.len().saturating_sub(1);
        let layers = self
            .layers
            .iter()
            .enumerate()
            .flat_map(move |(index, layer)| {
                let res = (index < last).then_some(&layer.res);
                [&layer.conv, &layer.cond, &layer.skip]
                    .into_iter()
                    .chain(res)
            });
        [&self.skip_start, &self.cond_out, &self.out1, &self.logits]
            .into_iter()
            .chain(layers)
    }

    /// `skip_start`'s bias plus every `skip_i` bias: all the constants the skip stream sums.
    pub fn skip_bias(&self) -> Vec<f32> {
        let mut sum = self.skip_start.bias.clone();
        for layer in &self.layers {
            sum.iter_mut()
                .zip(&layer.skip.bias)
                .for_each(|(s, b)| *s += b);
        }
        sum
    }
}

/// The NSynth WaveNet autoencoder with its weights.
#[derive(Debug, Clone)]
pub struct Model {
    shape: ModelShape,
    pub(crate) encoder: Encoder,
    pub(crate) decoder: Decoder,
}

/// Reads variables and checks each against the inventory of the inferred shape.
struct Loader<'a> {
    source: &'a dyn TensorSource,
    expected: BTreeMap<String, Vec<usize>>,
}

impl Loader<'_> {
    fn linear(&self, name: &str) -> Result<Linear, ModelError> {
        let weight = self.variable(&format!("{name}/W"))?;
        let bias = self.variable(&format!("{name}/biases"))?;
        let &[_, taps, inputs, outputs] = weight.0.as_slice() else {
            unreachable!("every kernel in the inventory has rank 4");
        };
        Ok(Linear {
            inputs: taps * inputs,
            outputs,
            weight: weight.1,
            bias: bias.1,
        })
    }

    fn variable(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
        let expected = &self.expected[name];
        let tensor = self
            .source
            .tensor(name)
            .map_err(|error| ModelError::Variable {
                name: name.into(),
                cause: error.into(),
            })?;
        if &tensor.shape != expected || tensor.data.len() != expected.iter().product::<usize>() {
            return Err(ModelError::Shape {
                name: name.into(),
                expected: expected.clone(),
                found: tensor.shape,
            });
        }
        Ok((tensor.shape, tensor.data))
    }
}

impl Model {
    /// Loads every encoder and decoder variable under its Magenta name (`ae_startconv/W`,
    /// `dilatedconv_3/biases`, …). Widths, layer counts and dilation cycles come from the
    /// variables ([`ModelShape::infer`]); `stages` gives the cycles a layer count leaves open,
    /// and is checked where it does not. Variables the model does not use (optimizer slots,
    /// moving averages) are ignored.
    pub fn load(
        source: &dyn TensorSource,
        stages: impl Into<GivenStages>,
    ) -> Result<Self, ModelError> {
        let shape = ModelShape::infer(source, stages)?;
        let loader = Loader {
            source,
            expected: shape
                .variables()
                .into_iter()
                .map(|v| (v.name, v.shape))
                .collect(),
        };
        let encoder = Encoder {
            start: loader.linear("ae_startconv")?,
            layers: (1..=shape.encoder_layers)
                .map(|n| {
                    Ok(EncoderLayer {
                        dilation: shape.encoder_dilation(n - 1),
                        conv: loader.linear(&format!("ae_dilatedconv_{n}"))?,
                        res: loader.linear(&format!("ae_res_{n}"))?,
                    })
                })
                .collect::<Result<_, ModelError>>()?,
            bottleneck: loader.linear("ae_bottleneck")?,
        };
        let decoder = Decoder {
            start: loader.linear("startconv")?,
            skip_start: loader.linear("skip_start")?,
            layers: (1..=shape.decoder_layers)
                .map(|n| {
                    Ok(DecoderLayer {
                        dilation: shape.decoder_dilation(n - 1),
                        conv: loader.linear(&format!("dilatedconv_{n}"))?,
                        cond: loader.linear(&format!("cond_map_{n}"))?,
                        res: loader.linear(&format!("res_{n}"))?,
                        skip: loader.linear(&format!("skip_{n}"))?,
                    })
                })
                .collect::<Result<_, ModelError>>()?,
            out1: loader.linear("out1")?,
            cond_out: loader.linear("cond_map_out1")?,
            logits: loader.linear("logits")?,
        };
        Ok(Self {
            shape,
            encoder,
            decoder,
        })
    }

    /// The hyper-parameters read from the variables.
    pub fn shape(&self) -> &ModelShape {
        &self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{tiny_shape, MapSource};
    use super::*;
    use crate::tensor::Tensor;

    #[test]
    fn a_model_loads_with_its_layers_and_dilations() {
        let model = Model::load(&MapSource::random(&tiny_shape(), 3), tiny_shape().stages).unwrap();
        assert_eq!(model.shape(), &tiny_shape());
        let dilations: Vec<usize> = model.decoder.layers.iter().map(|l| l.dilation).collect();
        assert_eq!(dilations, [1, 2, 1, 2]);
        assert_eq!(model.encoder.layers.len(), 4);
        let conv = &model.decoder.layers[0].conv;
        assert_eq!((conv.inputs, conv.outputs), (3 * 16, 32));
    }

    #[test]
    fn a_misshapen_variable_is_named_with_both_shapes() {
        let mut source = MapSource::random(&tiny_shape(), 3);
        source.0.insert(
            "dilatedconv_3/W".into(),
            Tensor::new(vec![1, 3, 16, 16], vec![0.0; 768]).unwrap(),
        );
        let error = Model::load(&source, tiny_shape().stages)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "dilatedconv_3/W: expected shape [1, 3, 16, 32], found [1, 3, 16, 16]"
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let mut source = MapSource::random(&tiny_shape(), 3);
        source.0.remove("res_4/biases");
        let error = Model::load(&source, tiny_shape().stages)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("model variable res_4/biases: "),
            "{error}"
        );
    }
}
