//! Desktop stand-ins for the hardware: the original's keyboard controls, scripted sessions, and
//! the OLED drawn in a terminal.

mod event;
pub mod keys;
pub mod script;
pub mod terminal;

pub use event::SimEvent;
