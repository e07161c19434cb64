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
            for ((g, a), b) in gated.iter_mut().zip(a).zip(b) {
                *g = sigmoid(*a) * b.tanh();
            }
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

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_half_is_the_sigmoid_and_the_second_the_tanh() {
        let z = [0.0, 2.0, 1.0, -3.0];
        let mut gated = [0.0; 2];
        gate(&z, &mut gated, 2);
        assert!((gated[0] - 0.5 * 1f32.tanh()).abs() < 1e-7);
        assert!((gated[1] - sigmoid(2.0) * (-3f32).tanh()).abs() < 1e-7);
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
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
        let mut one = vec![0.0; width];
        gate(&z[z.len() - 2 * width..], &mut one, width);
        assert_eq!(&gated[gated.len() - width..], &one[..]);

        let bias: Vec<f32> = (0..width).map(|i| i as f32).collect();
        let mut values = vec![-1.0; rows * width];
        add_bias(&mut values, &bias);
        relu(&mut values);
        assert_eq!(values[rows * width - 1], 62.0);
        assert_eq!(values[width], 0.0);
    }
}
