//! Incremental decoding on a GPU (spec §4): the decoder's weights laid out for the products
//! (uploaded once per device), and the per-batch state and operations of one generation step
//! and of one frame's conditioning. A step is
//!
//! 1. `start_conv` (the decoder inputs' ring → residual stream),
//! 2. per layer: `gather_taps` (the layer's history ring → the `[taps·width, batch]` input of
//!    its product, the previous layer's residual bias added on the way), the dilated conv
//!    product, `gate` (the frame's conditioning added), and one product that accumulates both
//!    the residual and the skip stream (`[res | skip]` weights side by side, the streams stacked
//!    in one buffer; the last layer only its skip half); after layer 0's gather, `skip_start`;
//! 3. `bias_act` (skip biases, ReLU), `out1`, `bias_act` (head conditioning, ReLU), `logits`,
//! 4. `sample` (softmax, CDF, the note's counter-based draw, next input, class out), `advance`.
//!
//! Every kernel reads the step's time from device memory, so one step's operations are the
//! same every step and are recorded once as a graph. Conditioning (`cond_map_i` and
//! `cond_map_out1`, for all layers in one product, with the conv and `out1` biases folded in)
//! runs once per 512-sample frame. Activations are channel-major; see `kernels.cu`.

use super::error::GpuError;
use super::executor::{f32_bytes, u32_bytes, u64_bytes, upload_values, Executor};
use super::plan::{Arg, BiasAct, BufferId, Compute, Dtype, Gemm, Kernel, Op};
use super::Precision;
use crate::model::mulaw::CLASSES;
use crate::model::{Model, ModelShape, HOP_LENGTH};

/// The decoder's weights on one device.
#[derive(Debug)]
pub struct DecoderWeights {
    shape: ModelShape,
    precision: Precision,
    start_weight: BufferId,
    start_bias: BufferId,
    skip_start: BufferId,
    layers: Vec<LayerWeights>,
    /// Every layer's `cond_map_i` and then `cond_map_out1`, side by side: `[bottleneck, N]`.
    conditioning: BufferId,
    /// Their biases plus the conv biases and `out1`'s bias: `[N]`.
    conditioning_bias: BufferId,
    /// `skip_start`'s bias plus every `skip_i` bias.
    skip_bias: BufferId,
    out1: BufferId,
    logits: BufferId,
    logits_bias: BufferId,
}

#[derive(Debug)]
struct LayerWeights {
    dilation: usize,
    /// `dilatedconv_i`: `[taps·width, 2·width]`.
    conv: BufferId,
    /// `res_i` and `skip_i` side by side: `[width, width + skip]`.
    res_skip: BufferId,
    res_bias: BufferId,
}

impl DecoderWeights {
    /// Uploads `model`'s decoder, products' weights in the precision's storage type.
    pub fn upload<E: Executor>(
        executor: &mut E,
        model: &Model,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let shape = model.shape().clone();
        let decoder = &model.decoder;
        let act = precision.activations();
        let mut matrix = |values: &[f32]| upload_values(executor, values, act);
        let skip_start = matrix(&decoder.skip_start.weight)?;
        let out1 = matrix(&decoder.out1.weight)?;
        let logits = matrix(&decoder.logits.weight)?;
        let (width, skip) = (shape.decoder_width, shape.skip_width);
        let mut layers = Vec::with_capacity(decoder.layers.len());
        for layer in &decoder.layers {
            let mut res_skip = Vec::with_capacity(width * (width + skip));
            for row in 0..width {
                res_skip.extend_from_slice(&layer.res.weight[row * width..][..width]);
                res_skip.extend_from_slice(&layer.skip.weight[row * skip..][..skip]);
            }
            layers.push((
                layer.dilation,
                matrix(&layer.conv.weight)?,
                matrix(&res_skip)?,
            ));
        }

        let bottleneck = shape.bottleneck_width;
        let columns = conditioning_channels(&shape);
        let mut conditioning = Vec::with_capacity(bottleneck * columns);
        for row in 0..bottleneck {
            for layer in &decoder.layers {
                let outputs = layer.cond.outputs;
                conditioning.extend_from_slice(&layer.cond.weight[row * outputs..][..outputs]);
            }
            let outputs = decoder.cond_out.outputs;
            conditioning.extend_from_slice(&decoder.cond_out.weight[row * outputs..][..outputs]);
        }
        let mut conditioning_bias = Vec::with_capacity(columns);
        for layer in &decoder.layers {
            conditioning_bias.extend(
                layer
                    .cond
                    .bias
                    .iter()
                    .zip(&layer.conv.bias)
                    .map(|(a, b)| a + b),
            );
        }
        conditioning_bias.extend(
            decoder
                .cond_out
                .bias
                .iter()
                .zip(&decoder.out1.bias)
                .map(|(a, b)| a + b),
        );
        let skip_bias = decoder.skip_bias();

        let mut floats = |values: &[f32]| upload_values(executor, values, Dtype::F32);
        let layers = layers
            .into_iter()
            .zip(&decoder.layers)
            .map(|((dilation, conv, res_skip), layer)| {
                Ok(LayerWeights {
                    dilation,
                    conv,
                    res_skip,
                    res_bias: floats(&layer.res.bias)?,
                })
            })
            .collect::<Result<Vec<_>, GpuError>>()?;
        Ok(Self {
            start_weight: floats(&decoder.start.weight)?,
            start_bias: floats(&decoder.start.bias)?,
            conditioning: floats(&conditioning)?,
            conditioning_bias: floats(&conditioning_bias)?,
            skip_bias: floats(&skip_bias)?,
            logits_bias: floats(&decoder.logits.bias)?,
            shape,
            precision,
            skip_start,
            layers,
            out1,
            logits,
        })
    }

    pub fn shape(&self) -> &ModelShape {
        &self.shape
    }

    /// The logits' bias, `[256]` float32.
    pub fn logits_bias(&self) -> BufferId {
        self.logits_bias
    }
}

/// Channels of one frame's conditioning: `2·width` per layer, then `skip` for the head.
fn conditioning_channels(shape: &ModelShape) -> usize {
    shape.decoder_layers * 2 * shape.decoder_width + shape.skip_width
}

/// What a batch's notes are: per note its length in samples (a whole number of frames), its
/// seed, and the decoder inputs of its prefix (`network_input` of each prefix sample).
#[derive(Debug, Clone)]
pub struct BatchNotes<'a> {
    pub embeddings: Vec<&'a [f32]>,
    pub seeds: Vec<u64>,
    pub prefix_inputs: Vec<Vec<f32>>,
}

/// The state and operations of one batch on one device.
#[derive(Debug)]
pub struct DecoderBatch {
    pub batch: usize,
    /// Samples per copy of classes to the host (a whole number of frames).
    pub chunk: usize,
    /// The longest note's samples.
    pub samples: usize,
    pub lengths: Vec<usize>,
    pub prefix_lengths: Vec<usize>,
    buffers: Vec<BufferId>,
    /// `[2, chunk, batch]` classes, double-buffered by chunk parity.
    pub classes: BufferId,
    /// The last step's logits (without their bias), `[256, batch]`.
    pub logits: BufferId,
    /// Per-frame work: the frame's embeddings and the conditioning product.
    pub frame_ops: Vec<Op>,
    /// One sample for every note.
    pub step_ops: Vec<Op>,
}

/// Largest count a kernel indexes with 32 bits.
const INDEX_LIMIT: usize = u32::MAX as usize;

impl DecoderBatch {
    /// Allocates the state of `notes` (zero history, time 0) and builds its operations.
    pub fn new<E: Executor>(
        executor: &mut E,
        weights: &DecoderWeights,
        notes: &BatchNotes<'_>,
        chunk: usize,
    ) -> Result<Self, GpuError> {
        let shape = &weights.shape;
        let batch = notes.embeddings.len();
        let (width, skip) = (shape.decoder_width, shape.skip_width);
        let (taps, bottleneck) = (shape.filter_length, shape.bottleneck_width);
        let layers = weights.layers.len();
        let conditioning = conditioning_channels(shape);
        let act = weights.precision.activations();
        let compute = weights.precision.compute();
        let bf16 = Arg::flag(act == Dtype::Bf16);
        let largest = conditioning.max(taps * width) * batch;
        if largest > INDEX_LIMIT {
            return Err(GpuError::TooLarge {
                what: "a batch's largest activation",
                found: largest,
                limit: INDEX_LIMIT,
            });
        }

        let lengths: Vec<usize> = notes
            .embeddings
            .iter()
            .map(|e| e.len() / bottleneck * HOP_LENGTH)
            .collect();
        let samples = lengths.iter().copied().max().unwrap_or(0);
        let max_frames = (samples / HOP_LENGTH).max(1);
        let prefix_lengths: Vec<usize> = notes.prefix_inputs.iter().map(Vec::len).collect();
        let prefix_stride = prefix_lengths.iter().copied().max().unwrap_or(0).max(1);

        let mut buffers = Vec::new();
        let mut alloc =
            |executor: &mut E, dtype: Dtype, len: usize| -> Result<BufferId, GpuError> {
                let buffer = executor.alloc(dtype, len)?;
                buffers.push(buffer);
                Ok(buffer)
            };
        let time = alloc(executor, Dtype::U32, 1)?;
        let inputs = alloc(executor, Dtype::F32, taps * batch)?;
        // Residual stream rows 0..width, skip stream rows width..width + skip.
        let streams = alloc(executor, Dtype::F32, (width + skip) * batch)?;
        let skip_stream = streams.at(width * batch);
        let rings = weights
            .layers
            .iter()
            .map(|layer| alloc(executor, act, (taps - 1) * layer.dilation * width * batch))
            .collect::<Result<Vec<_>, _>>()?;
        let gathered = alloc(executor, act, taps * width * batch)?;
        let z = alloc(executor, Dtype::F32, 2 * width * batch)?;
        let gated = alloc(executor, act, width * batch)?;
        let skip_act = alloc(executor, act, skip * batch)?;
        let hidden = alloc(executor, Dtype::F32, skip * batch)?;
        let hidden_act = alloc(executor, act, skip * batch)?;
        let logits = alloc(executor, Dtype::F32, CLASSES * batch)?;
        let cond = alloc(executor, Dtype::F32, conditioning * batch)?;
        let frame = alloc(executor, Dtype::F32, bottleneck * batch)?;
        let embeddings = alloc(executor, Dtype::F32, batch * max_frames * bottleneck)?;
        let lengths_buffer = alloc(executor, Dtype::U32, batch)?;
        let prefix_lengths_buffer = alloc(executor, Dtype::U32, batch)?;
        let prefix_inputs = alloc(executor, Dtype::F32, batch * prefix_stride)?;
        let seeds = alloc(executor, Dtype::U64, batch)?;
        let classes = alloc(executor, Dtype::U8, 2 * chunk * batch)?;

        let mut padded = vec![0.0f32; batch * max_frames * bottleneck];
        for (row, embedding) in padded
            .chunks_exact_mut(max_frames * bottleneck)
            .zip(&notes.embeddings)
        {
            row[..embedding.len()].copy_from_slice(embedding);
        }
        executor.upload(embeddings, &f32_bytes(&padded))?;
        let as_u32 = |values: &[usize]| values.iter().map(|&v| v as u32).collect::<Vec<u32>>();
        executor.upload(lengths_buffer, &u32_bytes(&as_u32(&lengths)))?;
        executor.upload(prefix_lengths_buffer, &u32_bytes(&as_u32(&prefix_lengths)))?;
        let mut prefixes = vec![0.0f32; batch * prefix_stride];
        for (row, prefix) in prefixes
            .chunks_exact_mut(prefix_stride)
            .zip(&notes.prefix_inputs)
        {
            row[..prefix.len()].copy_from_slice(prefix);
        }
        executor.upload(prefix_inputs, &f32_bytes(&prefixes))?;
        executor.upload(seeds, &u64_bytes(&notes.seeds))?;

        let frame_ops = vec![
            Op::launch(
                Kernel::FrameEmbedding,
                bottleneck * batch,
                [
                    embeddings.into(),
                    lengths_buffer.into(),
                    time.into(),
                    frame.into(),
                    Arg::size(bottleneck),
                    Arg::size(max_frames),
                    Arg::size(batch),
                    Arg::size(HOP_LENGTH),
                ],
            ),
            Op::Gemm(Gemm::channel_major(
                frame.view(),
                weights.conditioning.view(),
                conditioning,
                cond.view(),
                batch,
                bottleneck,
                conditioning,
                false,
                Compute::F32,
            )),
            Op::bias_act(BiasAct {
                x: cond.view(),
                bias: weights.conditioning_bias.into(),
                extra: Arg::Null,
                out: cond.view(),
                count: conditioning * batch,
                inner: batch,
                channels: conditioning,
                relu: false,
                bf16: false,
            }),
        ];

        let product = |x, w, w_stride, out, k, n, accumulate| {
            Op::Gemm(Gemm::channel_major(
                x, w, w_stride, out, batch, k, n, accumulate, compute,
            ))
        };
        let mut step_ops = vec![Op::launch(
            Kernel::StartConv,
            width * batch,
            [
                streams.into(),
                inputs.into(),
                weights.start_weight.into(),
                weights.start_bias.into(),
                time.into(),
                Arg::size(width),
                Arg::size(batch),
                Arg::size(taps),
            ],
        )];
        for (index, (layer, ring)) in weights.layers.iter().zip(&rings).enumerate() {
            let previous_bias = match index {
                0 => Arg::Null,
                _ => weights.layers[index - 1].res_bias.into(),
            };
            step_ops.push(Op::launch(
                Kernel::GatherTaps,
                width * batch,
                [
                    streams.into(),
                    previous_bias,
                    (*ring).into(),
                    gathered.into(),
                    time.into(),
                    Arg::size(width),
                    Arg::size(batch),
                    Arg::size(layer.dilation),
                    Arg::size(taps),
                    bf16,
                ],
            ));
            if index == 0 {
                // The current residual is the gathered matrix's last tap block.
                let current = gathered.at((taps - 1) * width * batch);
                step_ops.push(product(
                    current,
                    weights.skip_start.view(),
                    skip,
                    skip_stream,
                    width,
                    skip,
                    false,
                ));
            }
            step_ops.push(product(
                gathered.view(),
                layer.conv.view(),
                2 * width,
                z.view(),
                taps * width,
                2 * width,
                false,
            ));
            step_ops.push(Op::launch(
                Kernel::Gate,
                width * batch,
                [
                    z.into(),
                    cond.at(index * 2 * width * batch).into(),
                    gated.into(),
                    Arg::size(width),
                    Arg::size(batch),
                    bf16,
                ],
            ));
            // The last layer's residual output is never read (Magenta's res_30 is untrained).
            step_ops.push(if index + 1 < layers {
                product(
                    gated.view(),
                    layer.res_skip.view(),
                    width + skip,
                    streams.view(),
                    width,
                    width + skip,
                    true,
                )
            } else {
                product(
                    gated.view(),
                    layer.res_skip.at(width),
                    width + skip,
                    skip_stream,
                    width,
                    skip,
                    true,
                )
            });
        }
        // ReLU of a [skip, batch] head activation plus a bias or the head's conditioning, into
        // the next product's input.
        let head_relu = |x, bias, extra, out: BufferId| {
            Op::bias_act(BiasAct {
                x,
                bias,
                extra,
                out: out.view(),
                count: skip * batch,
                inner: batch,
                channels: skip,
                relu: true,
                bf16: act == Dtype::Bf16,
            })
        };
        step_ops.extend([
            head_relu(skip_stream, weights.skip_bias.into(), Arg::Null, skip_act),
            product(
                skip_act.view(),
                weights.out1.view(),
                skip,
                hidden.view(),
                skip,
                skip,
                false,
            ),
            head_relu(
                hidden.view(),
                Arg::Null,
                cond.at(layers * 2 * width * batch).into(),
                hidden_act,
            ),
            product(
                hidden_act.view(),
                weights.logits.view(),
                CLASSES,
                logits.view(),
                skip,
                CLASSES,
                false,
            ),
            Op::launch(
                Kernel::Sample,
                batch,
                [
                    logits.into(),
                    weights.logits_bias.into(),
                    seeds.into(),
                    lengths_buffer.into(),
                    prefix_lengths_buffer.into(),
                    prefix_inputs.into(),
                    Arg::size(prefix_stride),
                    inputs.into(),
                    classes.into(),
                    time.into(),
                    Arg::size(batch),
                    Arg::size(taps),
                    Arg::size(chunk),
                ],
            ),
            Op::launch(Kernel::Advance, 1, [time.into()]),
        ]);

        Ok(Self {
            batch,
            chunk,
            samples,
            lengths,
            prefix_lengths,
            buffers,
            classes,
            logits,
            frame_ops,
            step_ops,
        })
    }

    /// Frees the batch's buffers.
    pub fn free<E: Executor>(self, executor: &mut E) -> Result<(), GpuError> {
        self.buffers
            .into_iter()
            .try_for_each(|buffer| executor.free(buffer))
    }
}
