//! A named model tensor as every part of host-tools passes it around: a row-major `f32` array
//! with its shape. Checkpoint readers produce it, the model consumes it; nothing here knows
//! about files.

/// A row-major `f32` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` holding `data`; `None` when the element counts differ.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Option<Self> {
        (shape.iter().product::<usize>() == data.len()).then_some(Self { shape, data })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Where the model finds its variables by name (a TensorFlow checkpoint, a safetensors file, or
/// a map in a test).
pub trait TensorSource {
    /// The variable `name`, or an error that names it and the source.
    fn tensor(&self, name: &str) -> anyhow::Result<Tensor>;
    /// Every variable name the source holds, sorted.
    fn names(&self) -> Vec<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_must_match_the_element_count() {
        assert!(Tensor::new(vec![2, 3], vec![0.0; 6]).is_some());
        assert!(Tensor::new(vec![2, 3], vec![0.0; 5]).is_none());
        assert_eq!(Tensor::new(vec![], vec![1.0]).unwrap().len(), 1);
    }
}
