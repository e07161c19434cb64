//! Desktop stand-ins for the hardware: the original's keyboard controls, scripted sessions, and
//! the OLED drawn in a terminal.

#[cfg(feature = "device")]
pub mod console;
mod event;
pub mod keys;
pub mod script;
pub mod terminal;

pub use event::SimEvent;
