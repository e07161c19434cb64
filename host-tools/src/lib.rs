//! `host-tools`, the Open NSynth Super pad factory, as a library: the NSynth WaveNet (checkpoint
//! reading, encoder, decoder), audio and embedding files, and the pad pipeline. The binary in
//! `main.rs` is its command line.

pub mod atomic;
pub mod audio;
pub mod checkpoint;
pub mod commands;
pub mod embedding;
pub mod model;
pub mod npy;
pub mod pipeline;
pub mod tensor;
