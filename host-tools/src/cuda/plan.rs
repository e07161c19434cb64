//! A GPU program as data: typed buffers, kernel launches and column-major matrix products over
//! them, in the order a stream runs them. The decoder and encoder build their work as lists of
//! [`Op`]s once; an [`Executor`](super::executor::Executor) runs them (on a GPU through CUDA, or
//! on the CPU in tests), so layouts, strides and offsets are written in one place. Nothing here
//! touches a device.

/// Element types of device buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    /// bfloat16, stored as the upper 16 bits of a float32.
    Bf16,
    U32,
    U64,
    U8,
}

impl Dtype {
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::U32 => 4,
            Dtype::Bf16 => 2,
            Dtype::U64 => 8,
            Dtype::U8 => 1,
        }
    }
}

/// A buffer allocated by an executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferId(pub(crate) usize);

impl BufferId {
    /// The buffer from element `offset` on.
    pub fn at(self, offset: usize) -> View {
        View {
            buffer: self,
            offset,
        }
    }

    pub fn view(self) -> View {
        self.at(0)
    }
}

/// A place in a buffer, in elements of the buffer's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub buffer: BufferId,
    pub offset: usize,
}

/// A kernel argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    Buffer(View),
    /// A null pointer (an optional input left out).
    Null,
    U32(u32),
    I32(i32),
}

impl Arg {
    /// A `u32` argument; sizes that do not fit were refused when the plan was sized.
    pub fn size(value: usize) -> Self {
        Arg::U32(u32::try_from(value).expect("plan sizes are checked to fit 32 bits"))
    }

    pub fn flag(value: bool) -> Self {
        Arg::I32(i32::from(value))
    }
}

impl From<View> for Arg {
    fn from(view: View) -> Self {
        Arg::Buffer(view)
    }
}

impl From<BufferId> for Arg {
    fn from(buffer: BufferId) -> Self {
        Arg::Buffer(buffer.view())
    }
}

/// The kernels of `kernels.cu`; `kernel as usize` is its place in [`Kernel::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    StartConv,
    GatherTaps,
    Gate,
    BiasAct,
    FrameEmbedding,
    Sample,
    Advance,
    EncoderStart,
    Im2colSame,
    MeanPool,
}

impl Kernel {
    pub const ALL: [Kernel; 10] = [
        Kernel::StartConv,
        Kernel::GatherTaps,
        Kernel::Gate,
        Kernel::BiasAct,
        Kernel::FrameEmbedding,
        Kernel::Sample,
        Kernel::Advance,
        Kernel::EncoderStart,
        Kernel::Im2colSame,
        Kernel::MeanPool,
    ];

    /// Its symbol in `kernels.cu`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::StartConv => "start_conv",
            Kernel::GatherTaps => "gather_taps",
            Kernel::Gate => "gate",
            Kernel::BiasAct => "bias_act",
            Kernel::FrameEmbedding => "frame_embedding",
            Kernel::Sample => "sample",
            Kernel::Advance => "advance",
            Kernel::EncoderStart => "encoder_start",
            Kernel::Im2colSame => "im2col_same",
            Kernel::MeanPool => "mean_pool",
        }
    }
}

/// Threads per block of every launch (the kernels work with any).
pub const BLOCK: u32 = 256;

/// A kernel over `threads` threads of a one-dimensional grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub kernel: Kernel,
    pub threads: usize,
    pub args: Vec<Arg>,
}

/// How a product's multiply-adds run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// Full float32 (CUDA cores; bfloat16 inputs are exact in it).
    F32,
    /// Tensor cores on float32 inputs rounded to TF32 (10-bit mantissa), float32 accumulation.
    Tf32,
}

/// `C = op(A) · op(B)` (or `C += …`), column-major as cuBLAS takes it: `op(A)` is `m × k`,
/// `op(B)` is `k × n`, `C` is `m × n` and always float32; `A` and `B` share one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gemm {
    pub transpose_a: bool,
    pub transpose_b: bool,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: View,
    pub lda: usize,
    pub b: View,
    pub ldb: usize,
    pub c: View,
    pub ldc: usize,
    pub accumulate: bool,
    pub compute: Compute,
}

impl Gemm {
    /// `out[n, batch] (+)= Σ_k x[k, batch] · w[k, n]` for channel-major activations
    /// (element (channel, note) at `channel · batch + note`) and a row-major weight matrix whose
    /// rows are `w_stride` apart (its own width, or wider when it is a column block of a larger
    /// matrix).
    #[allow(clippy::too_many_arguments)]
    pub fn channel_major(
        x: View,
        w: View,
        w_stride: usize,
        out: View,
        batch: usize,
        k: usize,
        n: usize,
        accumulate: bool,
        compute: Compute,
    ) -> Self {
        Gemm {
            transpose_a: false,
            transpose_b: true,
            m: batch,
            n,
            k,
            a: x,
            lda: batch,
            b: w,
            ldb: w_stride,
            c: out,
            ldc: batch,
            accumulate,
            compute,
        }
    }

    /// `out[rows, n] (+)= x[rows, k] · w[k, n]`, all row-major (time-major activations).
    #[allow(clippy::too_many_arguments)]
    pub fn row_major(
        x: View,
        w: View,
        out: View,
        rows: usize,
        k: usize,
        n: usize,
        accumulate: bool,
        compute: Compute,
    ) -> Self {
        // Row-major Y = X·W is column-major Yᵀ = Wᵀ·Xᵀ, and each row-major matrix read as
        // column-major is its own transpose.
        Gemm {
            transpose_a: false,
            transpose_b: false,
            m: n,
            n: rows,
            k,
            a: w,
            lda: n,
            b: x,
            ldb: k,
            c: out,
            ldc: n,
            accumulate,
            compute,
        }
    }

    /// Multiply-adds.
    pub fn macs(&self) -> u64 {
        (self.m * self.n * self.k) as u64
    }
}

/// One operation of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Launch(Launch),
    Gemm(Gemm),
}

/// The operands of a `bias_act` launch (see `kernels.cu`): `out = x (+ bias[channel])
/// (+ extra)`, then ReLU if `relu`, over `count` elements whose channel is
/// `(i / inner) % channels`.
#[derive(Debug, Clone, Copy)]
pub struct BiasAct {
    pub x: View,
    /// A `[channels]` buffer, or [`Arg::Null`].
    pub bias: Arg,
    /// A buffer shaped like `x`, or [`Arg::Null`].
    pub extra: Arg,
    pub out: View,
    pub count: usize,
    pub inner: usize,
    pub channels: usize,
    pub relu: bool,
    /// Whether `out` is bfloat16 (else float32).
    pub bf16: bool,
}

impl Op {
    pub fn launch(kernel: Kernel, threads: usize, args: impl IntoIterator<Item = Arg>) -> Self {
        Op::Launch(Launch {
            kernel,
            threads,
            args: args.into_iter().collect(),
        })
    }

    pub fn bias_act(op: BiasAct) -> Self {
        Op::launch(
            Kernel::BiasAct,
            op.count,
            [
                op.x.into(),
                op.bias,
                op.extra,
                op.out.into(),
                Arg::size(op.count),
                Arg::size(op.inner),
                Arg::size(op.channels),
                Arg::flag(op.relu),
                Arg::flag(op.bf16),
            ],
        )
    }
}

/// Multiply-adds of the products in `ops`.
pub fn macs(ops: &[Op]) -> u64 {
    ops.iter()
        .map(|op| match op {
            Op::Gemm(gemm) => gemm.macs(),
            Op::Launch(_) => 0,
        })
        .sum()
}

/// Float32 values as a bfloat16 buffer's contents, rounded to nearest, ties to even (as the
/// kernels' `bf16_from_float`).
pub fn to_bf16(values: &[f32]) -> Vec<u16> {
    values
        .iter()
        .map(|&value| half::bf16::from_f32(value).to_bits())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even() {
        let values = [1.0f32, -2.5, 1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0, 0.1];
        let rounded: Vec<f32> = to_bf16(&values)
            .into_iter()
            .map(super::super::emulator::from_bf16)
            .collect();
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties go to the even 1; 1 + 3·2⁻⁸ to 1 + 2⁻⁶.
        assert_eq!(rounded[..4], [1.0, -2.5, 1.0, 1.0 + 4.0 / 256.0]);
        assert!((rounded[4] - 0.1).abs() < 0.1 / 128.0);
        // NaNs stay NaNs, even those whose rounding would carry into the sign.
        let nans = to_bf16(&[f32::NAN, f32::from_bits(0x7fff_ffff)]);
        assert!(nans
            .into_iter()
            .all(|bits| super::super::emulator::from_bf16(bits).is_nan()));
    }

    #[test]
    fn kernels_are_listed_in_declaration_order() {
        for (index, kernel) in Kernel::ALL.iter().enumerate() {
            assert_eq!(*kernel as usize, index, "{kernel:?}");
        }
    }

    #[test]
    fn row_major_products_swap_into_column_major() {
        let x = BufferId(0).view();
        let w = BufferId(1).view();
        let out = BufferId(2).view();
        let gemm = Gemm::row_major(x, w, out, 100, 384, 128, true, Compute::F32);
        assert_eq!((gemm.m, gemm.n, gemm.k), (128, 100, 384));
        assert_eq!((gemm.a, gemm.b), (w, x));
        assert_eq!((gemm.lda, gemm.ldb, gemm.ldc), (128, 384, 128));
        assert_eq!(gemm.macs(), 100 * 384 * 128);
    }
}
