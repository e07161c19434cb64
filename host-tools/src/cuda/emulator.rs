//! The [`Executor`] of the tests: buffers in host memory, the kernels of `kernels.cu` compiled
//! for the CPU (the `kernel-emulator` crate) and matrix products as plain loops with
//! cuBLAS's column-major conventions (TF32 products round their inputs to TF32 first). Work
//! runs at once, in order; graphs are the recorded operations run again.

use std::ffi::c_void;

use super::error::GpuError;
use super::executor::Executor;
use super::plan::{Arg, BufferId, Compute, Dtype, Gemm, Launch, Op, View, BLOCK};

struct Buffer {
    dtype: Dtype,
    len: usize,
    /// Whole words, so that every element type is aligned.
    words: Vec<u64>,
}

impl Buffer {
    fn bytes(&self) -> &[u8] {
        // SAFETY: u64 words reinterpreted as their bytes, within the allocation.
        unsafe {
            std::slice::from_raw_parts(self.words.as_ptr().cast(), self.len * self.dtype.size())
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len * self.dtype.size();
        // SAFETY: as above, uniquely borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast(), len) }
    }
}

#[derive(Default)]
pub struct Emulator {
    buffers: Vec<Option<Buffer>>,
    staging: Vec<Vec<u8>>,
    /// Operations run, for tests of what a plan queues.
    pub launches: usize,
    pub gemms: usize,
}

impl Emulator {
    fn buffer(&self, id: BufferId) -> &Buffer {
        self.buffers[id.0].as_ref().expect("buffer used after free")
    }

    fn pointer(&mut self, view: View) -> *mut c_void {
        let buffer = self.buffers[view.buffer.0]
            .as_mut()
            .expect("buffer used after free");
        assert!(view.offset <= buffer.len, "view beyond its buffer");
        let base: *mut u8 = buffer.words.as_mut_ptr().cast();
        // SAFETY: within the allocation (checked above).
        unsafe { base.add(view.offset * buffer.dtype.size()).cast() }
    }

    fn launch(&mut self, launch: &Launch) {
        let mut pointers: Vec<*mut c_void> = Vec::with_capacity(launch.args.len());
        let mut scalars: Vec<u64> = vec![0; launch.args.len()];
        for (arg, scalar) in launch.args.iter().zip(&mut scalars) {
            *scalar = match *arg {
                Arg::Buffer(view) => self.pointer(view) as u64,
                Arg::Null => 0,
                Arg::U32(value) => u64::from(value),
                Arg::I32(value) => value as u32 as u64,
            };
        }
        // Each parameter points at its value, as for cuLaunchKernel (little-endian: a u32 or
        // an i32 is the low half of its word).
        for scalar in &mut scalars {
            pointers.push((scalar as *mut u64).cast());
        }
        let threads = u32::try_from(launch.threads).expect("thread counts fit 32 bits");
        // SAFETY: the plans pass each kernel's parameters in order with buffers sized for it;
        // `pointers` and `scalars` outlive the call.
        unsafe { kernel_emulator::launch(launch.kernel.name(), threads, BLOCK, &mut pointers) };
        self.launches += 1;
    }

    fn element(&self, view: View, index: usize, compute: Compute) -> f32 {
        let buffer = self.buffer(view.buffer);
        let at = view.offset + index;
        assert!(at < buffer.len, "product reads beyond its buffer");
        let bytes = buffer.bytes();
        let value = match buffer.dtype {
            Dtype::F32 => {
                let b = &bytes[at * 4..at * 4 + 4];
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
            Dtype::Bf16 => from_bf16(u16::from_le_bytes([bytes[at * 2], bytes[at * 2 + 1]])),
            other => panic!("a product over {other:?}"),
        };
        match compute {
            Compute::F32 => value,
            Compute::Tf32 => round_to_tf32(value),
        }
    }

    fn gemm(&mut self, gemm: &Gemm) {
        let Gemm {
            m,
            n,
            k,
            lda,
            ldb,
            ldc,
            ..
        } = *gemm;
        // Element (row, column) of op(X) for X stored column-major with leading dimension ld.
        let operand = |view, transposed: bool, ld: usize, row: usize, column: usize| {
            let index = if transposed {
                column + row * ld
            } else {
                row + column * ld
            };
            self.element(view, index, gemm.compute)
        };
        let a = |i, p| operand(gemm.a, gemm.transpose_a, lda, i, p);
        let b = |p, j| operand(gemm.b, gemm.transpose_b, ldb, p, j);
        let mut products = vec![0.0f32; m * n];
        for j in 0..n {
            for i in 0..m {
                products[i + j * m] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
            }
        }
        let c = self.buffers[gemm.c.buffer.0]
            .as_mut()
            .expect("buffer used after free");
        assert_eq!(c.dtype, Dtype::F32, "products write float32");
        assert!(
            gemm.c.offset + (n - 1) * ldc + m <= c.len,
            "product writes beyond its buffer"
        );
        let out = c.bytes_mut();
        for j in 0..n {
            for i in 0..m {
                let at = (gemm.c.offset + i + j * ldc) * 4;
                let slot = &mut out[at..at + 4];
                let old = f32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]);
                let new = products[i + j * m] + if gemm.accumulate { old } else { 0.0 };
                slot.copy_from_slice(&new.to_le_bytes());
            }
        }
        self.gemms += 1;
    }
}

/// A bfloat16 buffer element as float32.
pub fn from_bf16(value: u16) -> f32 {
    half::bf16::from_bits(value).to_f32()
}

/// `value` rounded to TF32 (10 explicit mantissa bits), to nearest.
fn round_to_tf32(value: f32) -> f32 {
    let bits = value.to_bits();
    f32::from_bits(bits.wrapping_add(0xfff + ((bits >> 13) & 1)) & !0x1fff)
}

impl Executor for Emulator {
    type Graph = Vec<Op>;

    fn alloc(&mut self, dtype: Dtype, len: usize) -> Result<BufferId, GpuError> {
        let words = (len * dtype.size()).div_ceil(8).max(1);
        self.buffers.push(Some(Buffer {
            dtype,
            len,
            words: vec![0; words],
        }));
        Ok(BufferId(self.buffers.len() - 1))
    }

    fn free(&mut self, buffer: BufferId) -> Result<(), GpuError> {
        self.buffers[buffer.0] = None;
        Ok(())
    }

    fn upload(&mut self, buffer: BufferId, bytes: &[u8]) -> Result<(), GpuError> {
        let target = self.buffers[buffer.0]
            .as_mut()
            .expect("buffer used after free");
        target.bytes_mut()[..bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    fn zero(&mut self, buffer: BufferId) -> Result<(), GpuError> {
        let target = self.buffers[buffer.0]
            .as_mut()
            .expect("buffer used after free");
        target.words.fill(0);
        Ok(())
    }

    fn run(&mut self, ops: &[Op]) -> Result<(), GpuError> {
        for op in ops {
            match op {
                Op::Launch(launch) => self.launch(launch),
                Op::Gemm(gemm) => self.gemm(gemm),
            }
        }
        Ok(())
    }

    fn record(&mut self, ops: &[Op]) -> Result<Vec<Op>, GpuError> {
        Ok(ops.to_vec())
    }

    fn replay(&mut self, graph: &Vec<Op>) -> Result<(), GpuError> {
        self.run(graph)
    }

    fn start_download(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
        slot: usize,
    ) -> Result<(), GpuError> {
        let bytes = self.buffer(buffer).bytes()[offset..offset + len].to_vec();
        if self.staging.len() <= slot {
            self.staging.resize(slot + 1, Vec::new());
        }
        self.staging[slot] = bytes;
        Ok(())
    }

    fn finish_download(&mut self, slot: usize) -> Result<&[u8], GpuError> {
        Ok(&self.staging[slot])
    }

    fn download(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u8>, GpuError> {
        Ok(self.buffer(buffer).bytes()[offset..offset + len].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::super::executor::{f32_bytes, f32_values};
    use super::*;

    #[test]
    fn products_follow_cublas_conventions() {
        let mut emulator = Emulator::default();
        // x: channel-major [k=2, batch=3]; w: row-major [2, 2].
        let x = emulator.alloc(Dtype::F32, 6).unwrap();
        let w = emulator.alloc(Dtype::F32, 4).unwrap();
        let out = emulator.alloc(Dtype::F32, 6).unwrap();
        emulator
            .upload(x, &f32_bytes(&[1., 2., 3., 4., 5., 6.]))
            .unwrap();
        emulator
            .upload(w, &f32_bytes(&[1., 10., 100., 1000.]))
            .unwrap();
        let gemm = Gemm::channel_major(
            x.view(),
            w.view(),
            2,
            out.view(),
            3,
            2,
            2,
            false,
            Compute::F32,
        );
        emulator.run(&[Op::Gemm(gemm)]).unwrap();
        let y = f32_values(&emulator.download(out, 0, 24).unwrap());
        // out[n, b] = Σ_k x[k, b] · w[k, n]: note 0 has x = (1, 4).
        assert_eq!(y, [401., 502., 603., 4010., 5020., 6030.]);
    }

    #[test]
    fn tf32_keeps_ten_mantissa_bits() {
        assert_eq!(round_to_tf32(1.0 + 1.0 / 4096.0), 1.0);
        assert_eq!(round_to_tf32(1.0 + 3.0 / 2048.0), 1.0 + 2.0 / 1024.0);
        assert_eq!(round_to_tf32(-0.5), -0.5);
    }
}
