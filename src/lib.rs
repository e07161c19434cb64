//! Open NSynth Super runtime: settings, pads, the sampler engine and the offline renderer.
//! Everything here compiles and tests on a desktop; hardware lives behind features.

pub mod engine;
pub mod pad;
pub mod settings;
