//! The CUDA back end of the NSynth model: generation (incremental decoding with per-layer
//! history rings on the GPU, one step recorded as a CUDA graph and replayed, cuBLAS products on
//! tensor cores, sampling on the GPU, classes copied back a chunk at a time while the next chunk
//! computes) and encoding, on one or several GPUs. CUDA's libraries are loaded at run time, so
//! host-tools builds and runs its CPU path on machines without them; asking for a GPU there is
//! one clear error.
//!
//! The work is written as plans (`plan`: buffers and operations) run by an [`Executor`]:
//! [`CudaDevice`] on a GPU, and in tests a CPU emulator that runs the same kernel source, so the
//! whole GPU path is checked against the CPU model on machines without a GPU. It never reads
//! files.

pub mod bench;
mod decoder;
mod device;
#[cfg(test)]
mod emulator;
mod encoder;
mod error;
mod executor;
mod generate;
mod plan;
mod worker;

use std::str::FromStr;

pub use decoder::DecoderWeights;
pub use device::{check_libraries, device_count, CudaDevice, KERNEL_SOURCE};
pub use encoder::EncoderWeights;
pub use error::GpuError;
pub use executor::Executor;
pub use generate::{generate, teacher_forced_logits, CHUNK, STEPS_PER_GRAPH};
pub use plan::{macs, Compute, Dtype, Kernel};
pub use worker::{GpuPool, GpuWorker};

/// How the GPU does its arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Float32 throughout (no tensor cores): the reference, within rounding of the CPU.
    Fp32,
    /// Float32 storage, products on tensor cores with TF32 inputs and float32 accumulation.
    #[default]
    Tf32,
    /// Weights, layer histories and products' inputs in bfloat16 (half the memory), float32
    /// accumulation and residual/skip streams.
    Bf16,
}

impl Precision {
    /// The storage of products' inputs (weights, histories, gates).
    pub fn activations(self) -> Dtype {
        match self {
            Precision::Fp32 | Precision::Tf32 => Dtype::F32,
            Precision::Bf16 => Dtype::Bf16,
        }
    }

    /// How the products multiply.
    pub fn compute(self) -> Compute {
        match self {
            Precision::Fp32 | Precision::Bf16 => Compute::F32,
            Precision::Tf32 => Compute::Tf32,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Ok(Precision::Fp32),
            "tf32" => Ok(Precision::Tf32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!(
                "unknown precision {text:?}: use fp32, tf32 or bf16"
            )),
        }
    }
}

/// Where the model runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// All the CPU's cores.
    Cpu,
    /// These GPUs (CUDA ordinals), each taking the next batch when it finishes one.
    Cuda(Vec<usize>),
}

impl Placement {
    /// Reads `--device` (`cpu`, `cuda`, `cuda:N`, `cuda:all`) and `--devices` (`0,1,2,3`, or
    /// `all`); `--devices` wins when given. `all` is every GPU the process sees (under SLURM,
    /// those of its allocation).
    pub fn parse(device: &str, devices: Option<&str>) -> Result<Self, String> {
        let all = || {
            let count = device_count();
            if count == 0 {
                return Err("all GPUs: this machine has no usable CUDA device".to_string());
            }
            Ok(Placement::Cuda((0..count).collect()))
        };
        if let Some(list) = devices {
            if list.trim().eq_ignore_ascii_case("all") {
                return all();
            }
            let mut ordinals = Vec::new();
            for item in list.split(',') {
                let item = item.trim().trim_start_matches("cuda:");
                let ordinal: usize = item.parse().map_err(|_| {
                    format!("--devices {list:?}: {item:?} is not a GPU number (e.g. 0,1,2,3)")
                })?;
                if ordinals.contains(&ordinal) {
                    return Err(format!("--devices {list:?}: GPU {ordinal} is listed twice"));
                }
                ordinals.push(ordinal);
            }
            if ordinals.is_empty() {
                return Err("--devices: name at least one GPU".into());
            }
            return Ok(Placement::Cuda(ordinals));
        }
        match device.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Placement::Cpu),
            "cuda" | "gpu" => Ok(Placement::Cuda(vec![0])),
            "cuda:all" | "all" => all(),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(ordinal)) => Ok(Placement::Cuda(vec![ordinal])),
                _ => Err(format!(
                    "--device {device:?}: use cpu, cuda, cuda:N (N from 0) or cuda:all"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests;
