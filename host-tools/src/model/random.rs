//! A tensor source that invents every variable of a model shape from a seed, under Magenta's
//! names: the stand-in for a checkpoint in tests, benchmarks and smoke runs of the pipeline.
//! Values are uniform with a variance that keeps activations in a sane range (no overflow or
//! denormals that would distort timings); they mean nothing musically.

use std::collections::BTreeMap;

use crate::tensor::{Tensor, TensorSource};

use super::rng::{fnv1a, mix, SplitMix64};
use super::shape::ModelShape;

/// Every variable of `shape`, made up on demand from `seed` (the same name always gives the
/// same values).
#[derive(Debug, Clone)]
pub struct RandomWeights {
    shapes: BTreeMap<String, Vec<usize>>,
    seed: u64,
}

impl RandomWeights {
    pub fn new(shape: ModelShape, seed: u64) -> Self {
        let shapes = shape
            .variables()
            .into_iter()
            .map(|v| (v.name, v.shape))
            .collect();
        Self { shapes, seed }
    }
}

impl TensorSource for RandomWeights {
    fn tensor(&self, name: &str) -> anyhow::Result<Tensor> {
        let Some(shape) = self.shapes.get(name) else {
            anyhow::bail!("random weights have no variable named {name:?}");
        };
        // Kernels [1, taps, in, out] get variance 1/(taps·in) (LeCun), which keeps every layer's
        // output near unit scale; biases are small so they matter without dominating.
        let limit = match shape.as_slice() {
            [_, taps, inputs, _] => (3.0 / (taps * inputs) as f32).sqrt(),
            _ => 0.1,
        };
        let mut rng = SplitMix64::new(mix(self.seed ^ fnv1a(name.bytes())));
        let count = shape.iter().product();
        let data = (0..count).map(|_| rng.symmetric(limit)).collect();
        Ok(Tensor {
            shape: shape.clone(),
            data,
        })
    }

    fn names(&self) -> Vec<String> {
        self.shapes.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_repeatable_and_differ_between_seeds() {
        let a = RandomWeights::new(ModelShape::magenta(), 1);
        let b = RandomWeights::new(ModelShape::magenta(), 2);
        let first = a.tensor("cond_map_3/W").unwrap();
        assert_eq!(first.shape, vec![1, 1, 16, 1024]);
        assert_eq!(first, a.tensor("cond_map_3/W").unwrap());
        assert_ne!(first, b.tensor("cond_map_3/W").unwrap());
        assert!(a.tensor("cond_map_31/W").is_err());
        assert_eq!(a.names().len(), 374);
    }
}
