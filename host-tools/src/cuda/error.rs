//! What can go wrong on a GPU, said so that a user knows what to do: no driver or library on
//! the machine, no such device, a kernel that does not compile, a CUDA or cuBLAS call that
//! failed (out of memory, most often), a batch too large for the plan's 32-bit sizes.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum GpuError {
    /// A CUDA library cannot be loaded.
    #[error(
        "cannot use {device}: {library} was not found ({purpose}); install the NVIDIA driver \
         and the CUDA toolkit's libraries (or put them on LD_LIBRARY_PATH), or use --device cpu"
    )]
    MissingLibrary {
        device: String,
        library: &'static str,
        purpose: &'static str,
    },
    /// The machine has fewer GPUs than the ordinal asked for.
    #[error("there is no {device}: this machine has {count} CUDA device(s), numbered from 0")]
    NoSuchDevice { device: String, count: usize },
    /// NVRTC refused the kernels (a bug in this program, with the compiler's log).
    #[error("the GPU kernels do not compile for {device}: {log}")]
    Compile { device: String, log: String },
    /// A CUDA driver call failed.
    #[error("{device}: {call} failed: {message}")]
    Driver {
        device: String,
        call: &'static str,
        message: String,
    },
    /// A cuBLAS call failed.
    #[error("{device}: cuBLAS {call} failed: {message}")]
    Blas {
        device: String,
        call: &'static str,
        message: String,
    },
    /// A size of the work does not fit the kernels' 32-bit indices.
    #[error("{what} is {found}, more than the GPU kernels index ({limit}); use a smaller batch")]
    TooLarge {
        what: &'static str,
        found: usize,
        limit: usize,
    },
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}
