//! Convolution over a whole signal, the way the encoder and the teacher-forced decoder need it:
//! each tap is one matrix product between the signal shifted by that tap's offset and the tap's
//! slice of the kernel, with zeros where the shifted signal runs off either end. It owns only
//! that index arithmetic.

use super::gemm::{matmul, MatMut, MatRef};
use super::linear::Linear;

/// `out[t] = b + Σ_tap x[t + offset(tap)] · W_tap`, zero outside `0..samples`. `x` is
/// `[samples, inputs]`, the kernel `[taps·inputs, outputs]`, `out` `[samples, outputs]`
/// (overwritten).
pub fn conv_over_time(
    x: &[f32],
    samples: usize,
    inputs: usize,
    kernel: &Linear,
    offset: impl Fn(usize) -> isize,
    out: &mut [f32],
) {
    let outputs = kernel.outputs;
    for row in out.chunks_exact_mut(outputs) {
        row.copy_from_slice(&kernel.bias);
    }
    for tap in 0..kernel.inputs / inputs {
        let shift = offset(tap);
        let distance = shift.unsigned_abs();
        if distance >= samples {
            continue;
        }
        let rows = samples - distance;
        // A negative offset reads the past: output rows start later. A positive one reads the
        // future: input rows start later.
        let (x_start, out_start) = if shift < 0 {
            (0, distance)
        } else {
            (distance, 0)
        };
        matmul(
            MatRef::dense(&x[x_start * inputs..], rows, inputs),
            kernel.tap(tap, inputs),
            MatMut::dense(&mut out[out_start * outputs..], rows, outputs),
            true,
        );
    }
}
