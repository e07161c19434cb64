//! Element-wise pieces of the networks: ReLU, adding a bias to every row, and WaveNet's gated
//! activation `sigmoid(a) · tanh(b)`. Long inputs are split across rayon's threads by rows.
//! Nothing here allocates.

use rayon::prelude::*;

/// Below this many values a pass runs on the calling thread.
const PARALLEL_VALUES: usize = 1 << 15;

/// Rows of `width` values per parallel chunk, at least one.
fn rows_per_chunk(width: usize) -> usize {
    (PARALLEL_VALUES / width.max(1)).max(1)
}

pub fn relu(values: &mut [f32]) {
    let pass = |chunk: &mut [f32]| chunk.iter_mut().for_each(|x| *x = x.max(0.0));
    if values.len() < PARALLEL_VALUES {
        pass(values);
    } else {
        values.par_chunks_mut(PARALLEL_VALUES).for_each(pass);
    }
}

/// `values[c][b] += bias[c]` for channel-major values (`bias.len()` channels).
pub fn add_channel_bias(values: &mut [f32], bias: &[f32]) {
    let per_channel = values.len() / bias.len().max(1);
    for (channel, b) in values.chunks_exact_mut(per_channel.max(1)).zip(bias) {
        channel.iter_mut().for_each(|x| *x += b);
    }
}

/// `rows[r][c] += bias[c]` for every row of `bias.len()` values.
pub fn add_bias(rows: &mut [f32], bias: &[f32]) {
    let width = bias.len();
    let pass = |chunk: &mut [f32]| {
        for row in chunk.chunks_exact_mut(width) {
            row.iter_mut().zip(bias).for_each(|(x, b)| *x += b);
        }
    };
    if rows.len() < PARALLEL_VALUES {
        pass(rows);
    } else {
        rows.par_chunks_mut(rows_per_chunk(width) * width)
            .for_each(pass);
    }
}

/// `gated[r][c] = sigmoid(z[r][c]) · tanh(z[r][width + c])` for rows of `2·width` gate inputs
/// (Magenta: first half sigmoid, second half tanh).
pub fn gate(z: &[f32], gated: &mut [f32], width: usize) {
    let pass = |(z, gated): (&[f32], &mut [f32])| {
        for (z, gated) in z.chunks_exact(2 * width).zip(gated.chunks_exact_mut(width)) {
            let (a, b) = z.split_at(width);
            gate_values(a, b, gated);
        }
    };
    if gated.len() < PARALLEL_VALUES {
        pass((z, gated));
    } else {
        let rows = rows_per_chunk(width);
        z.par_chunks(rows * 2 * width)
            .zip(gated.par_chunks_mut(rows * width))
            .for_each(pass);
    }
}

/// `gated[i] = sigmoid(a[i]) · tanh(b[i])` (the two halves of a channel-major gate input).
pub fn gate_halves(a: &[f32], b: &[f32], gated: &mut [f32]) {
    if gated.len() < PARALLEL_VALUES {
        gate_values(a, b, gated);
    } else {
        a.par_chunks(PARALLEL_VALUES / 2)
            .zip(b.par_chunks(PARALLEL_VALUES / 2))
            .zip(gated.par_chunks_mut(PARALLEL_VALUES / 2))
            .for_each(|((a, b), gated)| gate_values(a, b, gated));
    }
}

fn gate_values(a: &[f32], b: &[f32], gated: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { gate_values_avx2(a, b, gated) };
    }
    gate_values_portable(a, b, gated);
}

/// The same loop compiled for AVX2: 8 lanes instead of SSE2's 4. No FMA contraction happens in
/// Rust, so both versions give the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gate_values_avx2(a: &[f32], b: &[f32], gated: &mut [f32]) {
    gate_values_portable(a, b, gated);
}

#[inline(always)]
fn gate_values_portable(a: &[f32], b: &[f32], gated: &mut [f32]) {
    for ((g, &a), &b) in gated.iter_mut().zip(a).zip(b) {
        *g = sigmoid(a) * tanh(b);
    }
}

/// `1 / (1 + e^−x)`, written as `1 / (2 + expm1(−x))`.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (2.0 + expm1(-x))
}

/// `tanh x = expm1(2x) / (expm1(2x) + 2)`: no cancellation near 0, where tanh x ≈ x.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let e = expm1(2.0 * x);
    e / (e + 2.0)
}

/// `e^x − 1` within a few ulp, branch-free so that loops over it vectorise (libm's `tanhf`
/// and `expf` are calls, one value at a time, and were a tenth of a generation step). Inputs
/// are clamped to [−87, 88], where the result has saturated to −1 or is about 1.6e38.
///
/// Method (Cephes `expf`): `x = n·ln 2 + r` with |r| ≤ ln 2 / 2, `e^r − 1 = r + r²·P(r)` with a
/// degree-5 minimax `P`, then `e^x − 1 = 2^n·(e^r − 1) + (2^n − 1)`, exact for n = 0.
#[inline(always)]
fn expm1(x: f32) -> f32 {
    // Adding 1.5·2^23 rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let em1_r = r + r * r * p;
    let scale = f32::from_bits(((n_bits + 127) << 23) as u32);
    scale * em1_r + (scale - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_half_is_the_sigmoid_and_the_second_the_tanh() {
        let z = [0.0, 2.0, 1.0, -3.0];
        let mut gated = [0.0; 2];
        gate(&z, &mut gated, 2);
        assert!((gated[0] - 0.5 * 1f32.tanh()).abs() < 3e-7);
        assert!((gated[1] - (-3f32).tanh() / (1.0 + (-2f32).exp())).abs() < 3e-7);
    }

    #[test]
    fn the_fast_functions_are_accurate_everywhere() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        let mut x = -120.0f32;
        while x < 120.0 {
            for value in [x, x * 1e-3, x * 1e-6] {
                let v = f64::from(value);
                let sigmoid_error = (f64::from(sigmoid(value)) - 1.0 / (1.0 + (-v).exp())).abs();
                let tanh_exact = v.tanh();
                let tanh_error =
                    (f64::from(tanh(value)) - tanh_exact).abs() / tanh_exact.abs().max(1e-30);
                let expm1_exact = v.exp_m1();
                let expm1_error = if (-87.0..88.0).contains(&v) {
                    (f64::from(expm1(value)) - expm1_exact).abs() / expm1_exact.abs().max(1e-30)
                } else {
                    0.0
                };
                worst.0 = worst.0.max(sigmoid_error);
                worst.1 = worst.1.max(if value == 0.0 { 0.0 } else { tanh_error });
                worst.2 = worst.2.max(expm1_error);
            }
            x += 0.001_37;
        }
        assert!(worst.0 < 2e-7, "sigmoid absolute error {}", worst.0);
        assert!(worst.1 < 4e-7, "tanh relative error {}", worst.1);
        assert!(worst.2 < 3e-7, "expm1 relative error {}", worst.2);
        assert!(sigmoid(-200.0) < 1e-38);
        assert_eq!(sigmoid(200.0), 1.0);
        assert_eq!(tanh(50.0), 1.0);
        assert_eq!(tanh(-50.0), -1.0);
        assert_eq!(tanh(0.0), 0.0);
    }

    #[test]
    fn long_inputs_give_the_same_values_as_short_ones() {
        let width = 64;
        let rows = 2 * PARALLEL_VALUES / width;
        let z: Vec<f32> = (0..rows * 2 * width)
            .map(|i| (i % 97) as f32 / 10.0 - 4.0)
            .collect();
        let mut gated = vec![0.0; rows * width];
        gate(&z, &mut gated, width);
        let (first, second): (Vec<f32>, Vec<f32>) = z
            .chunks_exact(2 * width)
            .map(|row| row.split_at(width))
            .fold((Vec::new(), Vec::new()), |(mut a, mut b), (x, y)| {
                a.extend_from_slice(x);
                b.extend_from_slice(y);
                (a, b)
            });
        let mut halves = vec![0.0; rows * width];
        gate_halves(&first, &second, &mut halves);
        assert_eq!(halves, gated);
        let mut one = vec![0.0; width];
        gate(&z[z.len() - 2 * width..], &mut one, width);
        assert_eq!(&gated[gated.len() - width..], &one[..]);

        let bias: Vec<f32> = (0..width).map(|i| i as f32).collect();
        let mut values = vec![-1.0; rows * width];
        add_bias(&mut values, &bias);
        relu(&mut values);
        assert_eq!(values[rows * width - 1], 62.0);
        assert_eq!(values[width], 0.0);

        let mut channels = vec![1.0; 6];
        add_channel_bias(&mut channels, &[1.0, 2.0]);
        assert_eq!(channels, [2.0, 2.0, 2.0, 3.0, 3.0, 3.0]);
    }
}
