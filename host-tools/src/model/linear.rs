//! One kernel of the model as a row-major `[inputs, outputs]` matrix plus its bias (a conv
//! kernel `W[0, tap, i, o]` as rows `tap·inputs + i`, so a layer's taps stack into one matrix),
//! and the products the whole-signal paths run with it: `x · W + b` over many rows, written or
//! added, and one tap's slice for shifted convolutions. It never reads variables or packs
//! weights for the generator.

use super::activation::add_bias;
use super::gemm::{matmul, MatMut, MatRef};

/// A kernel as an `[inputs, outputs]` matrix plus its bias.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Linear {
    pub fn matrix(&self) -> MatRef<'_> {
        MatRef::dense(&self.weight, self.inputs, self.outputs)
    }

    /// `out = x · W + b` for `rows` rows (`out` is overwritten).
    pub fn apply(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        matmul(
            MatRef::dense(x, rows, self.inputs),
            self.matrix(),
            MatMut::dense(out, rows, self.outputs),
            false,
        );
        add_bias(&mut out[..rows * self.outputs], &self.bias);
    }

    /// `out += x · W + b` for `rows` rows.
    pub fn accumulate(&self, x: MatRef<'_>, out: &mut [f32]) {
        matmul(
            x,
            self.matrix(),
            MatMut::dense(out, x.rows(), self.outputs),
            true,
        );
        add_bias(&mut out[..x.rows() * self.outputs], &self.bias);
    }

    /// This kernel and `other` (with as many inputs) side by side: `[inputs, outputs +
    /// other.outputs]`, whose products are this kernel's outputs followed by `other`'s.
    pub fn beside(&self, other: &Linear) -> Linear {
        assert_eq!(
            self.inputs, other.inputs,
            "kernels side by side share their inputs"
        );
        let weight = self
            .weight
            .chunks_exact(self.outputs)
            .zip(other.weight.chunks_exact(other.outputs))
            .flat_map(|(row, other_row)| row.iter().chain(other_row))
            .copied()
            .collect();
        Linear {
            inputs: self.inputs,
            outputs: self.outputs + other.outputs,
            weight,
            bias: [&self.bias[..], &other.bias[..]].concat(),
        }
    }

    /// Rows `tap·in .. (tap+1)·in` of a stacked conv kernel with `in` inputs per tap.
    pub fn tap(&self, tap: usize, inputs_per_tap: usize) -> MatRef<'_> {
        let start = tap * inputs_per_tap * self.outputs;
        MatRef::dense(&self.weight[start..], inputs_per_tap, self.outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_side_by_side_keep_each_ones_outputs_in_order() {
        let a = Linear {
            inputs: 2,
            outputs: 1,
            weight: vec![1.0, 2.0],
            bias: vec![0.5],
        };
        let b = Linear {
            inputs: 2,
            outputs: 2,
            weight: vec![3.0, 4.0, 5.0, 6.0],
            bias: vec![0.25, 0.75],
        };
        let both = a.beside(&b);
        assert_eq!((both.inputs, both.outputs), (2, 3));
        assert_eq!(both.weight, [1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
        assert_eq!(both.bias, [0.5, 0.25, 0.75]);
    }
}
