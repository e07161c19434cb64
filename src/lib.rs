//! Open NSynth Super runtime: settings, boards, pads and their streaming, the sampler engine, the
//! controls and screens, MIDI and OSC, the hardware drivers, the offline renderer, the simulator
//! the SD-card installer and image maker. Everything here compiles and tests on a desktop; the sound card,
//! the Linux buses and the MIDI ports sit behind the `device` feature.

#[cfg(feature = "device")]
pub mod app;
pub mod atomic;
#[cfg(feature = "device")]
pub mod audio;
pub mod board;
#[cfg(feature = "device")]
pub mod check;
pub mod cli;
pub mod control;
pub mod demo;
#[cfg(unix)]
pub mod disk;
pub mod drops;
pub mod engine;
#[cfg(unix)]
pub mod image;
pub mod input;
#[cfg(unix)]
pub mod install;
pub mod io;
pub mod limits;
pub mod logging;
pub mod midi;
pub mod osc;
pub mod outage;
pub mod pad;
pub mod patch;
#[cfg(feature = "device")]
pub mod play;
pub mod render;
pub mod settings;
pub mod sim;
pub mod stop;
pub mod ui;
