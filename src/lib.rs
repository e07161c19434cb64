//! Open NSynth Super runtime: settings, pads and their streaming, the sampler engine, the offline
//! renderer and the built-in demo. Everything here compiles and tests on a desktop; the sound
//! card sits behind the `audio` feature.

#[cfg(feature = "device")]
pub mod audio;
pub mod board;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod input;
#[cfg(unix)]
pub mod install;
pub mod pad;
#[cfg(feature = "device")]
pub mod play;
pub mod render;
pub mod settings;
pub mod ui;
