//! The encoder on a GPU (spec §2): for one recording, the start conv, then per layer an im2col
//! of the rectified stream for the dilated "same" conv, one product, bias and ReLU, and the
//! residual product accumulated into the stream; the bottleneck product and the mean of every
//! 512-sample hop. Activations are time-major (`[samples, channels]`). The bottleneck runs in
//! float32 whatever the precision (it is tiny); products feeding on im2col use the precision's
//! storage.

use super::error::GpuError;
use super::executor::{f32_bytes, f32_values, upload_values, Executor};
use super::plan::{Arg, BiasAct, BufferId, Compute, Dtype, Gemm, Kernel, Op};
use super::Precision;
use crate::model::mulaw::network_input;
use crate::model::{Model, ModelError, HOP_LENGTH};

#[derive(Debug)]
struct EncoderLayer {
    dilation: usize,
    /// `ae_dilatedconv_j`: `[taps·width, width]`.
    conv: BufferId,
    conv_bias: BufferId,
    /// `ae_res_j`: `[width, width]`.
    res: BufferId,
    res_bias: BufferId,
}

/// The encoder's weights on one device.
#[derive(Debug)]
pub struct EncoderWeights {
    precision: Precision,
    taps: usize,
    width: usize,
    bottleneck_width: usize,
    start_weight: BufferId,
    start_bias: BufferId,
    layers: Vec<EncoderLayer>,
    bottleneck: BufferId,
    bottleneck_bias: BufferId,
}

impl EncoderWeights {
    pub fn upload<E: Executor>(
        executor: &mut E,
        model: &Model,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let encoder = &model.encoder;
        let mut floats = |values: &[f32], dtype| upload_values(executor, values, dtype);
        let act = precision.activations();
        let mut layers = Vec::with_capacity(encoder.layers.len());
        for layer in &encoder.layers {
            layers.push(EncoderLayer {
                dilation: layer.dilation,
                conv: floats(&layer.conv.weight, act)?,
                conv_bias: floats(&layer.conv.bias, Dtype::F32)?,
                res: floats(&layer.res.weight, act)?,
                res_bias: floats(&layer.res.bias, Dtype::F32)?,
            });
        }
        Ok(Self {
            precision,
            taps: model.shape().filter_length,
            width: encoder.start.outputs,
            bottleneck_width: encoder.bottleneck.outputs,
            start_weight: floats(&encoder.start.weight, Dtype::F32)?,
            start_bias: floats(&encoder.start.bias, Dtype::F32)?,
            layers,
            bottleneck: floats(&encoder.bottleneck.weight, Dtype::F32)?,
            bottleneck_bias: floats(&encoder.bottleneck.bias, Dtype::F32)?,
        })
    }

    /// The embedding of `audio` (a non-empty multiple of 512 samples): `[frames, bottleneck]`
    /// row-major, as [`Model::encode`].
    pub fn encode<E: Executor>(
        &self,
        executor: &mut E,
        audio: &[f32],
    ) -> Result<Vec<f32>, GpuError> {
        let samples = audio.len();
        if samples == 0 || samples % HOP_LENGTH != 0 {
            return Err(ModelError::AudioLength {
                samples,
                hop: HOP_LENGTH,
            }
            .into());
        }
        let (taps, width, out_width) = (self.taps, self.width, self.bottleneck_width);
        let largest = samples * taps * width;
        if largest > u32::MAX as usize {
            return Err(GpuError::TooLarge {
                what: "a recording's im2col matrix",
                found: largest,
                limit: u32::MAX as usize,
            });
        }
        let act = self.precision.activations();
        let compute = self.precision.compute();
        let bf16_storage = act == Dtype::Bf16;
        let bf16 = Arg::flag(bf16_storage);
        let frames = samples / HOP_LENGTH;
        let buffers = [
            (Dtype::F32, samples),
            (Dtype::F32, samples * width),
            (act, samples * taps * width),
            (Dtype::F32, samples * width),
            (act, samples * width),
            (Dtype::F32, samples * out_width),
            (Dtype::F32, frames * out_width),
        ]
        .into_iter()
        .map(|(dtype, len)| executor.alloc(dtype, len))
        .collect::<Result<Vec<_>, _>>()?;
        let &[input, stream, columns, conv_out, rectified, z, pooled] = &buffers[..] else {
            unreachable!("seven buffers were made");
        };
        let inputs: Vec<f32> = audio.iter().map(|&x| network_input(x)).collect();
        executor.upload(input, &f32_bytes(&inputs))?;

        // `out = x + bias` per channel of time-major rows, ReLU'd when `relu`; bfloat16 only
        // for the rectified conv output that feeds a product.
        let bias_act = |x: BufferId, bias: BufferId, out: BufferId, channels, relu, out_bf16| {
            Op::bias_act(BiasAct {
                x: x.view(),
                bias: bias.into(),
                extra: Arg::Null,
                out: out.view(),
                count: samples * channels,
                inner: 1,
                channels,
                relu,
                bf16: out_bf16,
            })
        };
        let mut ops = vec![Op::launch(
            Kernel::EncoderStart,
            samples * width,
            [
                input.into(),
                self.start_weight.into(),
                self.start_bias.into(),
                stream.into(),
                Arg::size(samples),
                Arg::size(width),
                Arg::size(taps),
            ],
        )];
        for layer in &self.layers {
            ops.push(Op::launch(
                Kernel::Im2colSame,
                samples * taps * width,
                [
                    stream.into(),
                    columns.into(),
                    Arg::size(samples),
                    Arg::size(width),
                    Arg::size(taps),
                    Arg::size(layer.dilation),
                    bf16,
                ],
            ));
            ops.push(Op::Gemm(Gemm::row_major(
                columns.view(),
                layer.conv.view(),
                conv_out.view(),
                samples,
                taps * width,
                width,
                false,
                compute,
            )));
            ops.push(bias_act(
                conv_out,
                layer.conv_bias,
                rectified,
                width,
                true,
                bf16_storage,
            ));
            ops.push(Op::Gemm(Gemm::row_major(
                rectified.view(),
                layer.res.view(),
                stream.view(),
                samples,
                width,
                width,
                true,
                compute,
            )));
            ops.push(bias_act(
                stream,
                layer.res_bias,
                stream,
                width,
                false,
                false,
            ));
        }
        ops.push(Op::Gemm(Gemm::row_major(
            stream.view(),
            self.bottleneck.view(),
            z.view(),
            samples,
            width,
            out_width,
            false,
            Compute::F32,
        )));
        ops.push(bias_act(
            z,
            self.bottleneck_bias,
            z,
            out_width,
            false,
            false,
        ));
        ops.push(Op::launch(
            Kernel::MeanPool,
            frames * out_width,
            [
                z.into(),
                pooled.into(),
                Arg::size(frames),
                Arg::size(out_width),
                Arg::size(HOP_LENGTH),
            ],
        ));
        let result = executor
            .run(&ops)
            .and_then(|()| executor.download(pooled, 0, frames * out_width * 4));
        for buffer in buffers {
            executor.free(buffer)?;
        }
        Ok(f32_values(&result?))
    }
}
