//! What runs a [plan](super::plan): buffers, uploads, one ordered stream of operations, graphs
//! of them replayed, and copies back to the host that overlap the stream's work. The CUDA
//! device implements it; so does the CPU emulator the tests use. The generation and encoding
//! drivers are written once against this trait.

use super::error::GpuError;
use super::plan::{to_bf16, BufferId, Dtype, Op};

pub trait Executor {
    /// A recorded list of operations, replayed as one unit (a CUDA graph on a GPU).
    type Graph;

    /// A zeroed buffer of `len` elements.
    fn alloc(&mut self, dtype: Dtype, len: usize) -> Result<BufferId, GpuError>;

    /// Frees a buffer once the work queued so far is done with it.
    fn free(&mut self, buffer: BufferId) -> Result<(), GpuError>;

    /// Copies `bytes` (little-endian elements) to the start of `buffer`, after the work queued
    /// so far; `bytes` may be released when this returns.
    fn upload(&mut self, buffer: BufferId, bytes: &[u8]) -> Result<(), GpuError>;

    /// Zeroes `buffer`, in stream order.
    fn zero(&mut self, buffer: BufferId) -> Result<(), GpuError>;

    /// Queues `ops` in order.
    fn run(&mut self, ops: &[Op]) -> Result<(), GpuError>;

    /// Records `ops` for [`replay`](Self::replay); nothing runs yet.
    fn record(&mut self, ops: &[Op]) -> Result<Self::Graph, GpuError>;

    /// Queues a recorded graph.
    fn replay(&mut self, graph: &Self::Graph) -> Result<(), GpuError>;

    /// Starts copying `len` bytes of `buffer` from byte `offset` into staging slot `slot` once
    /// the work queued so far has made them, while later work goes on.
    fn start_download(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
        slot: usize,
    ) -> Result<(), GpuError>;

    /// Waits for the copy into `slot` and returns its bytes.
    fn finish_download(&mut self, slot: usize) -> Result<&[u8], GpuError>;

    /// Waits for everything queued and returns `len` bytes of `buffer` from byte `offset`.
    fn download(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u8>, GpuError>;
}

/// A new buffer of `dtype` (float32 or bfloat16) holding `values`.
pub fn upload_values<E: Executor>(
    executor: &mut E,
    values: &[f32],
    dtype: Dtype,
) -> Result<BufferId, GpuError> {
    let buffer = executor.alloc(dtype, values.len())?;
    let bytes = match dtype {
        Dtype::Bf16 => u16_bytes(&to_bf16(values)),
        _ => f32_bytes(values),
    };
    executor.upload(buffer, &bytes)?;
    Ok(buffer)
}

/// The little-endian bytes of float32 values.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn u16_bytes(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn u64_bytes(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Float32 values from little-endian bytes.
pub fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
