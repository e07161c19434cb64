//! The GPU generation benchmark behind `host-tools bench`: the released model's shape with
//! random weights on one GPU ([`Benchmark`]), the decoder stepped for a batch of notes at each
//! batch size, timed with CUDA events around whole frames (conditioning plus the step graph
//! replayed 512 times) after one warm-up frame, and the figures derived from that time. It
//! measures and returns what it measured; it never prints or decides anything.

use super::decoder::{BatchNotes, DecoderBatch, DecoderWeights};
use super::device::CudaDevice;
use super::error::GpuError;
use super::generate::{record_steps, run_frame, CHUNK};
use super::Precision;
use crate::model::{Generator, Model, ModelShape, RandomWeights, Stages, HOP_LENGTH};

/// Samples of one 4-second NSynth note.
pub const NOTE_SAMPLES: u64 = 64_000;

/// One batch size's measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    pub batch: usize,
    pub steps: usize,
    pub seconds: f64,
    /// Device memory in use while the batch ran (everything on the device, weights included).
    pub memory_bytes: usize,
}

impl Measurement {
    pub fn samples_per_second(&self) -> f64 {
        (self.batch * self.steps) as f64 / self.seconds
    }

    pub fn notes_per_hour(&self) -> f64 {
        self.samples_per_second() * 3600.0 / NOTE_SAMPLES as f64
    }

    /// TFLOP/s counting `macs_per_sample` multiply-adds per generated sample.
    pub fn tflops(&self, macs_per_sample: u64) -> f64 {
        2.0 * macs_per_sample as f64 * self.samples_per_second() / 1e12
    }
}

/// The released model's shape, with random weights, on one GPU, and the batch sizes to measure.
pub struct Benchmark {
    gpu: CudaDevice,
    weights: DecoderWeights,
    precision: Precision,
    /// The batch sizes, in the order they are measured.
    pub batches: Vec<usize>,
}

impl Benchmark {
    /// Uploads the model to GPU `ordinal` at `precision`, and reads the batch list `batches`
    /// (see [`batch_sizes`]; `max` is the largest batch the GPU's free memory then holds).
    pub fn open(ordinal: usize, precision: Precision, batches: &str) -> anyhow::Result<Self> {
        let mut gpu = CudaDevice::open(ordinal)?;
        let shape = ModelShape::magenta();
        let model = Model::load(&RandomWeights::new(shape.clone(), 1), Stages::MAGENTA)?;
        let weights = DecoderWeights::upload(&mut gpu, &model, precision)?;
        let (free, _) = gpu.memory()?;
        let batches = batch_sizes(batches, largest_batch(free, &shape, precision))
            .map_err(anyhow::Error::msg)?;
        Ok(Self {
            gpu,
            weights,
            precision,
            batches,
        })
    }

    /// The GPU, e.g. `cuda:0 (NVIDIA H200)`.
    pub fn label(&self) -> &str {
        self.gpu.label()
    }

    /// The GPU's dense peak TFLOP/s at this precision, where it is known.
    pub fn peak_tflops(&self) -> Option<f64> {
        dense_peak_tflops(self.gpu.label(), self.precision)
    }

    /// Multiply-adds per generated sample: Magenta's graph's (the figure throughputs are quoted
    /// against), and what this decoder executes.
    pub fn macs_per_sample(&self) -> (u64, u64) {
        let shape = self.weights.shape();
        (
            Generator::graph_macs_per_step(shape),
            Generator::macs_per_step(shape),
        )
    }

    /// Measures `frames` frames at each batch size in turn, yielding each batch size with its
    /// measurement as it is made.
    pub fn measurements(
        &mut self,
        frames: usize,
    ) -> impl Iterator<Item = (usize, Result<Measurement, GpuError>)> + '_ {
        let Self {
            gpu,
            weights,
            batches,
            ..
        } = self;
        batches
            .iter()
            .map(move |&batch| (batch, measure(gpu, weights, batch, frames)))
    }
}

/// Device memory one note of a batch takes beyond the weights (its history rings, activations
/// and conditioning), in bytes, for sizing the largest batch.
pub fn bytes_per_note(shape: &ModelShape, activation_bytes: usize) -> usize {
    let (width, skip, taps) = (shape.decoder_width, shape.skip_width, shape.filter_length);
    let dilations: usize = (0..shape.decoder_layers)
        .map(|i| 1usize << (i % shape.stages.decoder))
        .sum();
    let rings = (taps - 1) * dilations * width * activation_bytes;
    let conditioning = (shape.decoder_layers * 2 * width + skip) * 4;
    let activations = taps * width * activation_bytes + (width + skip) * 4 + 2 * width * 4;
    rings + conditioning + activations + 2 * CHUNK + 4096
}

/// The largest batch, a multiple of 64, whose per-note state fits in `free` bytes of device
/// memory with 2 GiB to spare.
pub fn largest_batch(free: usize, shape: &ModelShape, precision: Precision) -> usize {
    let per_note = bytes_per_note(shape, precision.activations().size());
    (free.saturating_sub(2 << 30) / per_note / 64 * 64).max(1)
}

/// The batch sizes of a list like `1,64,512,max`, `max` being `largest`.
pub fn batch_sizes(list: &str, largest: usize) -> Result<Vec<usize>, String> {
    list.split(',')
        .map(|item| match item.trim() {
            "max" => Ok(largest),
            other => other
                .parse()
                .map_err(|_| format!("--batches: {other:?} is not a batch size or max")),
        })
        .collect()
}

/// Dense peak TFLOP/s of GPUs whose figures are known (NVIDIA's datasheets for the H100 and
/// H200 SXM parts), by the device's label.
pub fn dense_peak_tflops(label: &str, precision: Precision) -> Option<f64> {
    let hopper = label.contains("H100") || label.contains("H200");
    match precision {
        Precision::Tf32 if hopper => Some(494.7),
        Precision::Bf16 if hopper => Some(989.4),
        Precision::Fp32 if hopper => Some(66.9),
        _ => None,
    }
}

/// Times `frames` frames of generation for `batch` notes on `device`.
fn measure(
    device: &mut CudaDevice,
    weights: &DecoderWeights,
    batch: usize,
    frames: usize,
) -> Result<Measurement, GpuError> {
    let bottleneck = weights.shape().bottleneck_width;
    let embedding: Vec<f32> = (0..(frames + 1) * bottleneck)
        .map(|i| (i as f32 * 0.37).sin())
        .collect();
    let notes = BatchNotes {
        embeddings: vec![&embedding[..]; batch],
        seeds: (0..batch as u64).collect(),
        prefix_inputs: vec![Vec::new(); batch],
    };
    let state = DecoderBatch::new(device, weights, &notes, CHUNK)?;
    let result = (|| {
        let graph = record_steps(device, &state)?;
        run_frame(device, &state, &graph, HOP_LENGTH)?;
        let start = device.mark()?;
        for _ in 0..frames {
            run_frame(device, &state, &graph, HOP_LENGTH)?;
        }
        let end = device.mark()?;
        device.synchronize()?;
        let milliseconds = start.elapsed_ms(&end).map_err(|e| GpuError::Driver {
            device: device.label().to_string(),
            call: "timing",
            message: e.to_string(),
        })?;
        let (free, total) = device.memory()?;
        Ok(Measurement {
            batch,
            steps: frames * HOP_LENGTH,
            seconds: f64::from(milliseconds) / 1000.0,
            memory_bytes: total - free,
        })
    })();
    state.free(device)?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_from_the_time() {
        let measured = Measurement {
            batch: 64,
            steps: 1024,
            seconds: 0.5,
            memory_bytes: 0,
        };
        assert_eq!(measured.samples_per_second(), 131_072.0);
        assert_eq!(measured.notes_per_hour(), 131_072.0 * 3600.0 / 64_000.0);
        assert!((measured.tflops(59_741_696) - 15.661).abs() < 1e-3);
    }

    #[test]
    fn batch_lists_name_sizes_or_the_largest() {
        assert_eq!(batch_sizes("1, 64,max", 4096), Ok(vec![1, 64, 4096]));
        assert!(batch_sizes("1,many", 4096)
            .unwrap_err()
            .contains("\"many\""));
        let shape = ModelShape::magenta();
        assert_eq!(largest_batch(1 << 30, &shape, Precision::Tf32), 1);
        let largest = largest_batch(100 << 30, &shape, Precision::Tf32);
        assert_eq!(largest % 64, 0);
        assert!(largest > 7000 && largest < 9000, "{largest}");
    }

    #[test]
    fn a_released_model_note_needs_about_13_mb() {
        let bytes = bytes_per_note(&ModelShape::magenta(), 4);
        // The history rings alone are 2 · 512 · Σ dilations floats (spec §4.1).
        assert!(bytes > 3_142_656 * 4 && bytes < 13_000_000, "{bytes}");
        assert!(bytes_per_note(&ModelShape::magenta(), 2) < bytes * 6 / 10);
    }
}
