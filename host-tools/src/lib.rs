//! `host-tools`, the Open NSynth Super pad factory, as a library: the NSynth WaveNet (checkpoint
//! reading, encoder, decoder, on the CPU and on GPUs), audio and embedding files, the pad
//! pipeline, SLURM scripts that spread it over a cluster, and the commands of its command line
//! (`cli`), which the binary in `main.rs` runs.

pub mod audio;
pub mod baseline;
pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod cpu_bench;
pub mod cuda;
pub mod digest;
pub mod embedding;
pub mod folder;
pub mod lending;
pub mod model;
pub mod npy;
pub mod pipeline;
pub mod progress;
pub mod slurm;
pub mod synth;
pub mod tensor;
