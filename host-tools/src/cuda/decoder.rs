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
use super::plan::{Arg, BiasAct, BufferId, Compute, Dtype, Gemm, Kernel, Op, View};
use super::Precision;
use crate::model::mulaw::CLASSES;
use crate::model::{DecoderLayer, Linear, Model, ModelShape, HOP_LENGTH};

/// A row-major weight matrix on the device, or a block of its columns.
#[derive(Debug, Clone, Copy)]
struct WeightMatrix {
    at: View,
    rows: usize,
    columns: usize,
    /// Elements from one row to the next: `columns`, or more in a block of a wider matrix.
    stride: usize,
}

impl WeightMatrix {
    /// Uploads a row-major matrix of `columns` columns in `dtype`.
    fn upload<E: Executor>(
        executor: &mut E,
        values: &[f32],
        columns: usize,
        dtype: Dtype,
    ) -> Result<Self, GpuError> {
        Ok(Self {
            at: upload_values(executor, values, dtype)?.view(),
            rows: values.len() / columns,
            columns,
            stride: columns,
        })
    }

    /// Uploads a kernel's matrix (its bias is left to the caller).
    fn kernel<E: Executor>(
        executor: &mut E,
        linear: &Linear,
        dtype: Dtype,
    ) -> Result<Self, GpuError> {
        Self::upload(executor, &linear.weight, linear.outputs, dtype)
    }

    /// Columns `first .. first + count`.
    fn columns(self, first: usize, count: usize) -> Self {
        Self {
            at: self.at.buffer.at(self.at.offset + first),
            columns: count,
            ..self
        }
    }
}

/// The decoder's weights on one device.
#[derive(Debug)]
pub struct DecoderWeights {
    shape: ModelShape,
    precision: Precision,
    start_weight: BufferId,
    start_bias: BufferId,
    skip_start: WeightMatrix,
    layers: Vec<LayerWeights>,
    /// Every layer's `cond_map_i` and then `cond_map_out1`, side by side: `[bottleneck, N]`.
    conditioning: WeightMatrix,
    /// Their biases plus the conv biases and `out1`'s bias: `[N]`.
    conditioning_bias: BufferId,
    /// `skip_start`'s bias plus every `skip_i` bias.
    skip_bias: BufferId,
    out1: WeightMatrix,
    logits: WeightMatrix,
    logits_bias: BufferId,
}

#[derive(Debug)]
struct LayerWeights {
    dilation: usize,
    /// `dilatedconv_i`: `[taps·width, 2·width]`.
    conv: WeightMatrix,
    /// `res_i` and `skip_i` side by side: `[width, width + skip]`.
    res_skip: WeightMatrix,
    res_bias: BufferId,
}

impl LayerWeights {
    fn upload<E: Executor>(
        executor: &mut E,
        layer: &DecoderLayer,
        dtype: Dtype,
    ) -> Result<Self, GpuError> {
        let (res, skip) = (&layer.res, &layer.skip);
        let res_skip = side_by_side(&[res, skip]);
        Ok(Self {
            dilation: layer.dilation,
            conv: WeightMatrix::kernel(executor, &layer.conv, dtype)?,
            res_skip: WeightMatrix::upload(executor, &res_skip, res.outputs + skip.outputs, dtype)?,
            res_bias: upload_values(executor, &res.bias, Dtype::F32)?,
        })
    }
}

impl DecoderWeights {
    /// Uploads `model`'s decoder, products' weights in the precision's storage type.
    pub fn upload<E: Executor>(
        executor: &mut E,
        model: &Model,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let decoder = &model.decoder;
        let act = precision.activations();
        let layers = decoder
            .layers
            .iter()
            .map(|layer| LayerWeights::upload(executor, layer, act))
            .collect::<Result<Vec<_>, _>>()?;
        let skip_start = WeightMatrix::kernel(executor, &decoder.skip_start, act)?;
        let out1 = WeightMatrix::kernel(executor, &decoder.out1, act)?;
        let logits = WeightMatrix::kernel(executor, &decoder.logits, act)?;
        let conditioning_maps: Vec<&Linear> = decoder
            .layers
            .iter()
            .map(|layer| &layer.cond)
            .chain([&decoder.cond_out])
            .collect();
        let conditioning = WeightMatrix::upload(
            executor,
            &side_by_side(&conditioning_maps),
            conditioning_channels(model.shape()),
            Dtype::F32,
        )?;
        let mut floats = |values: &[f32]| upload_values(executor, values, Dtype::F32);
        Ok(Self {
            start_weight: floats(&decoder.start.weight)?,
            start_bias: floats(&decoder.start.bias)?,
            conditioning_bias: floats(&folded_conditioning_bias(model))?,
            skip_bias: floats(&decoder.skip_bias())?,
            logits_bias: floats(&decoder.logits.bias)?,
            shape: model.shape().clone(),
            precision,
            skip_start,
            layers,
            conditioning,
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

/// Kernels with the same inputs as one matrix, their columns side by side.
fn side_by_side(kernels: &[&Linear]) -> Vec<f32> {
    let inputs = kernels.first().map_or(0, |kernel| kernel.inputs);
    let columns: usize = kernels.iter().map(|kernel| kernel.outputs).sum();
    let mut matrix = Vec::with_capacity(inputs * columns);
    for row in 0..inputs {
        for kernel in kernels {
            matrix.extend_from_slice(&kernel.weight[row * kernel.outputs..][..kernel.outputs]);
        }
    }
    matrix
}

/// The bias added to one frame's conditioning: per layer `cond_map_i`'s plus `dilatedconv_i`'s,
/// then `cond_map_out1`'s plus `out1`'s.
fn folded_conditioning_bias(model: &Model) -> Vec<f32> {
    let decoder = &model.decoder;
    let pairs = decoder
        .layers
        .iter()
        .map(|layer| (&layer.cond, &layer.conv))
        .chain([(&decoder.cond_out, &decoder.out1)]);
    pairs
        .flat_map(|(cond, next)| cond.bias.iter().zip(&next.bias).map(|(a, b)| a + b))
        .collect()
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
        let batch = notes.embeddings.len();
        check_indexable(&weights.shape, batch)?;
        let sizes = NoteSizes::new(notes, weights.shape.bottleneck_width);
        let buffers = BatchBuffers::alloc(executor, weights, batch, &sizes, chunk)?;
        buffers.upload_notes(executor, notes, &sizes)?;
        let plan = BatchPlan {
            weights,
            buffers: &buffers,
            sizes: &sizes,
            batch,
            chunk,
        };
        Ok(Self {
            batch,
            chunk,
            samples: sizes.samples,
            frame_ops: plan.frame_ops(),
            step_ops: plan.step_ops(),
            lengths: sizes.lengths,
            prefix_lengths: sizes.prefix_lengths,
            classes: buffers.classes,
            logits: buffers.logits,
            buffers: buffers.all,
        })
    }

    /// Frees the batch's buffers.
    pub fn free<E: Executor>(self, executor: &mut E) -> Result<(), GpuError> {
        self.buffers
            .into_iter()
            .try_for_each(|buffer| executor.free(buffer))
    }
}

/// Refuses a batch whose largest activation a kernel could not index.
fn check_indexable(shape: &ModelShape, batch: usize) -> Result<(), GpuError> {
    let largest = conditioning_channels(shape).max(shape.filter_length * shape.decoder_width);
    let found = largest * batch;
    if found > INDEX_LIMIT {
        return Err(GpuError::TooLarge {
            what: "a batch's largest activation",
            found,
            limit: INDEX_LIMIT,
        });
    }
    Ok(())
}

/// The notes' lengths and the strides of the tables that hold them on the device.
struct NoteSizes {
    /// Per note its samples (its frames × 512).
    lengths: Vec<usize>,
    /// Per note the samples of its prefix.
    prefix_lengths: Vec<usize>,
    /// The longest note's samples.
    samples: usize,
    /// Frames of the embeddings table per note (at least 1).
    max_frames: usize,
    /// Values of the embeddings table per note: `max_frames · bottleneck`.
    embedding_stride: usize,
    /// Values of the prefix table per note (at least 1).
    prefix_stride: usize,
}

impl NoteSizes {
    fn new(notes: &BatchNotes<'_>, bottleneck: usize) -> Self {
        let lengths: Vec<usize> = notes
            .embeddings
            .iter()
            .map(|e| e.len() / bottleneck * HOP_LENGTH)
            .collect();
        let samples = lengths.iter().copied().max().unwrap_or(0);
        let prefix_lengths: Vec<usize> = notes.prefix_inputs.iter().map(Vec::len).collect();
        let max_frames = (samples / HOP_LENGTH).max(1);
        Self {
            max_frames,
            embedding_stride: max_frames * bottleneck,
            prefix_stride: prefix_lengths.iter().copied().max().unwrap_or(0).max(1),
            lengths,
            prefix_lengths,
            samples,
        }
    }
}

/// A batch's device buffers, zeroed when allocated. Activations are channel-major,
/// `[channels, batch]`.
struct BatchBuffers {
    /// The step counter every kernel reads, `[1]` u32.
    time: BufferId,
    /// The decoder inputs of the last `taps` steps, a ring of `[taps, batch]`.
    inputs: BufferId,
    /// The residual stream in rows `0..width`, the skip stream in rows `width..width + skip`.
    streams: BufferId,
    /// Per layer the ring of its past inputs, `[(taps − 1)·dilation, width, batch]`.
    rings: Vec<BufferId>,
    /// A layer's taps gathered for its conv product, `[taps·width, batch]`.
    gathered: BufferId,
    /// The dilated conv's output, `[2·width, batch]`.
    z: BufferId,
    gated: BufferId,
    /// The rectified skip stream, `out1`'s input.
    skip_act: BufferId,
    /// `out1`'s output and, rectified with the head's conditioning, `logits`' input.
    hidden: BufferId,
    hidden_act: BufferId,
    logits: BufferId,
    /// One frame's conditioning, `[conditioning channels, batch]`.
    cond: BufferId,
    /// One frame's embeddings, `[bottleneck, batch]`.
    frame: BufferId,
    /// Every note's embeddings, `[batch, max_frames, bottleneck]`.
    embeddings: BufferId,
    lengths: BufferId,
    prefix_lengths: BufferId,
    /// Every note's prefix inputs, `[batch, prefix_stride]`.
    prefix_inputs: BufferId,
    seeds: BufferId,
    classes: BufferId,
    /// All of the above, to free.
    all: Vec<BufferId>,
}

impl BatchBuffers {
    fn alloc<E: Executor>(
        executor: &mut E,
        weights: &DecoderWeights,
        batch: usize,
        sizes: &NoteSizes,
        chunk: usize,
    ) -> Result<Self, GpuError> {
        let shape = &weights.shape;
        let (width, skip) = (shape.decoder_width, shape.skip_width);
        let (taps, bottleneck) = (shape.filter_length, shape.bottleneck_width);
        let act = weights.precision.activations();
        let mut all = Vec::new();
        let mut alloc = |dtype: Dtype, len: usize| -> Result<BufferId, GpuError> {
            let buffer = executor.alloc(dtype, len)?;
            all.push(buffer);
            Ok(buffer)
        };
        Ok(Self {
            time: alloc(Dtype::U32, 1)?,
            inputs: alloc(Dtype::F32, taps * batch)?,
            streams: alloc(Dtype::F32, (width + skip) * batch)?,
            rings: weights
                .layers
                .iter()
                .map(|layer| alloc(act, (taps - 1) * layer.dilation * width * batch))
                .collect::<Result<_, _>>()?,
            gathered: alloc(act, taps * width * batch)?,
            z: alloc(Dtype::F32, 2 * width * batch)?,
            gated: alloc(act, width * batch)?,
            skip_act: alloc(act, skip * batch)?,
            hidden: alloc(Dtype::F32, skip * batch)?,
            hidden_act: alloc(act, skip * batch)?,
            logits: alloc(Dtype::F32, CLASSES * batch)?,
            cond: alloc(Dtype::F32, conditioning_channels(shape) * batch)?,
            frame: alloc(Dtype::F32, bottleneck * batch)?,
            embeddings: alloc(Dtype::F32, batch * sizes.embedding_stride)?,
            lengths: alloc(Dtype::U32, batch)?,
            prefix_lengths: alloc(Dtype::U32, batch)?,
            prefix_inputs: alloc(Dtype::F32, batch * sizes.prefix_stride)?,
            seeds: alloc(Dtype::U64, batch)?,
            classes: alloc(Dtype::U8, 2 * chunk * batch)?,
            all,
        })
    }

    /// Copies the notes' embeddings, lengths, prefixes and seeds to their tables.
    fn upload_notes<E: Executor>(
        &self,
        executor: &mut E,
        notes: &BatchNotes<'_>,
        sizes: &NoteSizes,
    ) -> Result<(), GpuError> {
        let embeddings = padded_rows(&notes.embeddings, sizes.embedding_stride);
        executor.upload(self.embeddings, &f32_bytes(&embeddings))?;
        let as_u32 = |values: &[usize]| values.iter().map(|&v| v as u32).collect::<Vec<u32>>();
        executor.upload(self.lengths, &u32_bytes(&as_u32(&sizes.lengths)))?;
        executor.upload(
            self.prefix_lengths,
            &u32_bytes(&as_u32(&sizes.prefix_lengths)),
        )?;
        let prefixes = padded_rows(&notes.prefix_inputs, sizes.prefix_stride);
        executor.upload(self.prefix_inputs, &f32_bytes(&prefixes))?;
        executor.upload(self.seeds, &u64_bytes(&notes.seeds))
    }
}

/// `rows` one after another, each padded with zeros to `stride` values.
fn padded_rows(rows: &[impl AsRef<[f32]>], stride: usize) -> Vec<f32> {
    let mut table = vec![0.0f32; rows.len() * stride];
    for (padded, row) in table.chunks_exact_mut(stride).zip(rows) {
        padded[..row.as_ref().len()].copy_from_slice(row.as_ref());
    }
    table
}

/// Builds a batch's operations from its weights and buffers.
struct BatchPlan<'a> {
    weights: &'a DecoderWeights,
    buffers: &'a BatchBuffers,
    sizes: &'a NoteSizes,
    batch: usize,
    chunk: usize,
}

impl BatchPlan<'_> {
    fn shape(&self) -> &ModelShape {
        &self.weights.shape
    }

    /// Whether products' inputs are stored as bfloat16.
    fn bf16(&self) -> bool {
        self.weights.precision.activations() == Dtype::Bf16
    }

    /// The frame's embeddings picked for every note, then the conditioning product with its
    /// folded bias.
    fn frame_ops(&self) -> Vec<Op> {
        let (buffers, weights, batch) = (self.buffers, self.weights, self.batch);
        let bottleneck = self.shape().bottleneck_width;
        let channels = conditioning_channels(self.shape());
        vec![
            Op::launch(
                Kernel::FrameEmbedding,
                bottleneck * batch,
                [
                    buffers.embeddings.into(),
                    buffers.lengths.into(),
                    buffers.time.into(),
                    buffers.frame.into(),
                    Arg::size(bottleneck),
                    Arg::size(self.sizes.max_frames),
                    Arg::size(batch),
                    Arg::size(HOP_LENGTH),
                ],
            ),
            self.gemm(
                buffers.frame.view(),
                weights.conditioning,
                buffers.cond.view(),
                false,
                Compute::F32,
            ),
            Op::bias_act(BiasAct {
                x: buffers.cond.view(),
                bias: weights.conditioning_bias.into(),
                extra: Arg::Null,
                out: buffers.cond.view(),
                count: channels * batch,
                inner: batch,
                channels,
                relu: false,
                bf16: false,
            }),
        ]
    }

    /// One sample for every note: the start conv, every layer, the head, the draw, the clock.
    fn step_ops(&self) -> Vec<Op> {
        let mut ops = vec![self.start_conv()];
        for index in 0..self.weights.layers.len() {
            ops.extend(self.layer_ops(index));
        }
        ops.extend(self.head_ops());
        ops.push(self.sample());
        ops.push(Op::launch(Kernel::Advance, 1, [self.buffers.time.into()]));
        ops
    }

    /// `startconv` over the decoder inputs' ring into the residual stream.
    fn start_conv(&self) -> Op {
        let (buffers, weights, shape) = (self.buffers, self.weights, self.shape());
        Op::launch(
            Kernel::StartConv,
            shape.decoder_width * self.batch,
            [
                buffers.streams.into(),
                buffers.inputs.into(),
                weights.start_weight.into(),
                weights.start_bias.into(),
                buffers.time.into(),
                Arg::size(shape.decoder_width),
                Arg::size(self.batch),
                Arg::size(shape.filter_length),
            ],
        )
    }

    /// Layer `index`: its taps gathered (the previous layer's residual bias added on the way),
    /// after layer 0's gather `skip_start`, the dilated conv, the gate, and one product into
    /// the residual and skip streams (the last layer's skip half only).
    fn layer_ops(&self, index: usize) -> Vec<Op> {
        let (buffers, batch) = (self.buffers, self.batch);
        let layers = &self.weights.layers;
        let layer = &layers[index];
        let (width, taps) = (self.shape().decoder_width, self.shape().filter_length);
        let previous_bias = match index {
            0 => Arg::Null,
            _ => layers[index - 1].res_bias.into(),
        };
        let mut ops = vec![Op::launch(
            Kernel::GatherTaps,
            width * batch,
            [
                buffers.streams.into(),
                previous_bias,
                buffers.rings[index].into(),
                buffers.gathered.into(),
                buffers.time.into(),
                Arg::size(width),
                Arg::size(batch),
                Arg::size(layer.dilation),
                Arg::size(taps),
                Arg::flag(self.bf16()),
            ],
        )];
        if index == 0 {
            // The current residual is the gathered matrix's last tap block.
            let current = buffers.gathered.at((taps - 1) * width * batch);
            ops.push(self.product(current, self.weights.skip_start, self.skip_stream(), false));
        }
        ops.push(self.product(buffers.gathered.view(), layer.conv, buffers.z.view(), false));
        ops.push(Op::launch(
            Kernel::Gate,
            width * batch,
            [
                buffers.z.into(),
                buffers.cond.at(index * 2 * width * batch).into(),
                buffers.gated.into(),
                Arg::size(width),
                Arg::size(batch),
                Arg::flag(self.bf16()),
            ],
        ));
        // The last layer's residual output is never read (Magenta's res_30 is untrained).
        ops.push(if index + 1 < layers.len() {
            self.product(
                buffers.gated.view(),
                layer.res_skip,
                buffers.streams.view(),
                true,
            )
        } else {
            let skip_half = layer.res_skip.columns(width, self.shape().skip_width);
            self.product(buffers.gated.view(), skip_half, self.skip_stream(), true)
        });
        ops
    }

    /// ReLU of the skip stream plus its biases, `out1`, ReLU with the head's conditioning,
    /// `logits`.
    fn head_ops(&self) -> [Op; 4] {
        let (buffers, weights) = (self.buffers, self.weights);
        let shape = self.shape();
        let head_conditioning = shape.decoder_layers * 2 * shape.decoder_width * self.batch;
        [
            self.head_relu(
                self.skip_stream(),
                weights.skip_bias.into(),
                Arg::Null,
                buffers.skip_act,
            ),
            self.product(
                buffers.skip_act.view(),
                weights.out1,
                buffers.hidden.view(),
                false,
            ),
            self.head_relu(
                buffers.hidden.view(),
                Arg::Null,
                buffers.cond.at(head_conditioning).into(),
                buffers.hidden_act,
            ),
            self.product(
                buffers.hidden_act.view(),
                weights.logits,
                buffers.logits.view(),
                false,
            ),
        ]
    }

    /// Softmax, CDF and each note's draw (or its prefix), the next input and the class out.
    fn sample(&self) -> Op {
        let buffers = self.buffers;
        Op::launch(
            Kernel::Sample,
            self.batch,
            [
                buffers.logits.into(),
                self.weights.logits_bias.into(),
                buffers.seeds.into(),
                buffers.lengths.into(),
                buffers.prefix_lengths.into(),
                buffers.prefix_inputs.into(),
                Arg::size(self.sizes.prefix_stride),
                buffers.inputs.into(),
                buffers.classes.into(),
                buffers.time.into(),
                Arg::size(self.batch),
                Arg::size(self.shape().filter_length),
                Arg::size(self.chunk),
            ],
        )
    }

    /// The skip stream: the rows after the residual stream.
    fn skip_stream(&self) -> View {
        self.buffers
            .streams
            .at(self.shape().decoder_width * self.batch)
    }

    /// `out (+)= x · w` over channel-major activations, multiplied as the precision says.
    fn product(&self, x: View, w: WeightMatrix, out: View, accumulate: bool) -> Op {
        self.gemm(x, w, out, accumulate, self.weights.precision.compute())
    }

    /// `out (+)= x · w` over channel-major activations.
    fn gemm(&self, x: View, w: WeightMatrix, out: View, accumulate: bool, compute: Compute) -> Op {
        Op::Gemm(Gemm::channel_major(
            x, w.at, w.stride, out, self.batch, w.rows, w.columns, accumulate, compute,
        ))
    }

    /// ReLU of a `[skip, batch]` head activation plus a bias or the head's conditioning, into
    /// the next product's input.
    fn head_relu(&self, x: View, bias: Arg, extra: Arg, out: BufferId) -> Op {
        let skip = self.shape().skip_width;
        Op::bias_act(BiasAct {
            x,
            bias,
            extra,
            out: out.view(),
            count: skip * self.batch,
            inner: self.batch,
            channels: skip,
            relu: true,
            bf16: self.bf16(),
        })
    }
}
