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
        self.check_length(samples)?;
        let buffers = EncoderBuffers::alloc(executor, self, samples)?;
        let inputs: Vec<f32> = audio.iter().map(|&x| network_input(x)).collect();
        executor.upload(buffers.input, &f32_bytes(&inputs))?;
        let plan = EncoderPlan {
            weights: self,
            buffers: &buffers,
            samples,
        };
        let embedding_values = samples / HOP_LENGTH * self.bottleneck_width;
        let result = executor
            .run(&plan.ops())
            .and_then(|()| executor.download(buffers.pooled, 0, embedding_values * 4));
        buffers.free(executor)?;
        Ok(f32_values(&result?))
    }

    /// Refuses a recording that is not whole hops, or whose im2col matrix a kernel could not
    /// index.
    fn check_length(&self, samples: usize) -> Result<(), GpuError> {
        if samples == 0 || !samples.is_multiple_of(HOP_LENGTH) {
            return Err(ModelError::AudioLength {
                samples,
                hop: HOP_LENGTH,
            }
            .into());
        }
        let largest = samples * self.taps * self.width;
        if largest > u32::MAX as usize {
            return Err(GpuError::TooLarge {
                what: "a recording's im2col matrix",
                found: largest,
                limit: u32::MAX as usize,
            });
        }
        Ok(())
    }
}

/// One recording's device buffers, time-major (`[samples, channels]`).
struct EncoderBuffers {
    /// The encoder's inputs, `[samples]`.
    input: BufferId,
    /// The residual stream, `[samples, width]`.
    stream: BufferId,
    /// The rectified stream's taps side by side for a dilated conv (im2col),
    /// `[samples, taps·width]`.
    columns: BufferId,
    /// The dilated conv's product, `[samples, width]`.
    conv_out: BufferId,
    /// It biased and rectified: the residual product's input, `[samples, width]`.
    rectified: BufferId,
    /// The bottleneck's output, `[samples, bottleneck]`.
    z: BufferId,
    /// Its mean over each hop: the embedding, `[frames, bottleneck]`.
    pooled: BufferId,
}

impl EncoderBuffers {
    fn alloc<E: Executor>(
        executor: &mut E,
        weights: &EncoderWeights,
        samples: usize,
    ) -> Result<Self, GpuError> {
        let (taps, width) = (weights.taps, weights.width);
        let bottleneck = weights.bottleneck_width;
        let act = weights.precision.activations();
        Ok(Self {
            input: executor.alloc(Dtype::F32, samples)?,
            stream: executor.alloc(Dtype::F32, samples * width)?,
            columns: executor.alloc(act, samples * taps * width)?,
            conv_out: executor.alloc(Dtype::F32, samples * width)?,
            rectified: executor.alloc(act, samples * width)?,
            z: executor.alloc(Dtype::F32, samples * bottleneck)?,
            pooled: executor.alloc(Dtype::F32, samples / HOP_LENGTH * bottleneck)?,
        })
    }

    fn free<E: Executor>(self, executor: &mut E) -> Result<(), GpuError> {
        [
            self.input,
            self.stream,
            self.columns,
            self.conv_out,
            self.rectified,
            self.z,
            self.pooled,
        ]
        .into_iter()
        .try_for_each(|buffer| executor.free(buffer))
    }
}

/// Builds the operations that encode one recording.
struct EncoderPlan<'a> {
    weights: &'a EncoderWeights,
    buffers: &'a EncoderBuffers,
    samples: usize,
}

impl EncoderPlan<'_> {
    /// The start conv, every layer, the bottleneck and the pooling.
    fn ops(&self) -> Vec<Op> {
        let mut ops = vec![self.start_conv()];
        for layer in &self.weights.layers {
            ops.extend(self.layer_ops(layer));
        }
        ops.extend(self.output_ops());
        ops
    }

    /// `ae_startconv` over the inputs into the stream.
    fn start_conv(&self) -> Op {
        let (weights, buffers) = (self.weights, self.buffers);
        Op::launch(
            Kernel::EncoderStart,
            self.samples * weights.width,
            [
                buffers.input.into(),
                weights.start_weight.into(),
                weights.start_bias.into(),
                buffers.stream.into(),
                Arg::size(self.samples),
                Arg::size(weights.width),
                Arg::size(weights.taps),
            ],
        )
    }

    /// im2col of the rectified stream, the dilated conv's product, its bias and ReLU, and the
    /// residual product and bias added to the stream.
    fn layer_ops(&self, layer: &EncoderLayer) -> [Op; 5] {
        let (weights, buffers, samples) = (self.weights, self.buffers, self.samples);
        let (taps, width) = (weights.taps, weights.width);
        let compute = weights.precision.compute();
        let bf16 = weights.precision.activations() == Dtype::Bf16;
        [
            Op::launch(
                Kernel::Im2colSame,
                samples * taps * width,
                [
                    buffers.stream.into(),
                    buffers.columns.into(),
                    Arg::size(samples),
                    Arg::size(width),
                    Arg::size(taps),
                    Arg::size(layer.dilation),
                    Arg::flag(bf16),
                ],
            ),
            Op::Gemm(Gemm::row_major(
                buffers.columns.view(),
                layer.conv.view(),
                buffers.conv_out.view(),
                samples,
                taps * width,
                width,
                false,
                compute,
            )),
            self.bias_act(
                buffers.conv_out,
                layer.conv_bias,
                buffers.rectified,
                width,
                true,
                bf16,
            ),
            Op::Gemm(Gemm::row_major(
                buffers.rectified.view(),
                layer.res.view(),
                buffers.stream.view(),
                samples,
                width,
                width,
                true,
                compute,
            )),
            self.bias_act(
                buffers.stream,
                layer.res_bias,
                buffers.stream,
                width,
                false,
                false,
            ),
        ]
    }

    /// The bottleneck product (float32) and its bias, then the mean of every hop.
    fn output_ops(&self) -> [Op; 3] {
        let (weights, buffers, samples) = (self.weights, self.buffers, self.samples);
        let bottleneck = weights.bottleneck_width;
        let frames = samples / HOP_LENGTH;
        [
            Op::Gemm(Gemm::row_major(
                buffers.stream.view(),
                weights.bottleneck.view(),
                buffers.z.view(),
                samples,
                weights.width,
                bottleneck,
                false,
                Compute::F32,
            )),
            self.bias_act(
                buffers.z,
                weights.bottleneck_bias,
                buffers.z,
                bottleneck,
                false,
                false,
            ),
            Op::launch(
                Kernel::MeanPool,
                frames * bottleneck,
                [
                    buffers.z.into(),
                    buffers.pooled.into(),
                    Arg::size(frames),
                    Arg::size(bottleneck),
                    Arg::size(HOP_LENGTH),
                ],
            ),
        ]
    }

    /// `out = x + bias` per channel of time-major rows, ReLU'd when `relu`; bfloat16 only for
    /// the rectified conv output that feeds a product.
    fn bias_act(
        &self,
        x: BufferId,
        bias: BufferId,
        out: BufferId,
        channels: usize,
        relu: bool,
        out_bf16: bool,
    ) -> Op {
        Op::bias_act(BiasAct {
            x: x.view(),
            bias: bias.into(),
            extra: Arg::Null,
            out: out.view(),
            count: self.samples * channels,
            inner: 1,
            channels,
            relu,
            bf16: out_bf16,
        })
    }
}
