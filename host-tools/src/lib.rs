//! `host-tools`, the Open NSynth Super pad factory, as a library: the NSynth WaveNet (checkpoint
//! reading, encoder, decoder), audio and embedding files, the pad pipeline, and
//! SLURM scripts that spread it over a cluster. The binary in
//! `main.rs` is its command line.

pub mod audio;
pub mod checkpoint;
pub mod commands;
pub mod cuda;
pub mod embedding;
pub mod folder;
pub mod model;
pub mod npy;
pub mod pipeline;
pub mod progress;
pub mod slurm;
pub mod synth;
pub mod tensor;
