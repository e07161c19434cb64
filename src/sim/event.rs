//! What the simulator's keyboard and scripts can do: control inputs for the controller, notes
//! for the engine, the original's loop-point keys, a screenshot, and quitting.

use crate::input::Input;
use crate::midi::MidiEvent;

#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    /// An input for the controller, as the hardware or OSC would give it.
    Input(Input),
    /// A note on (velocity 0–1) or off (velocity 0).
    Note {
        note: u8,
        velocity: f32,
    },
    /// A MIDI message, as a controller on the instrument's channel would send it (scripted
    /// control changes, pitch bend, program changes and the pedal).
    Midi(MidiEvent),
    /// Move the loop start or end by this fraction of the row (the original's `[ ] ' #` keys).
    LoopStart(f32),
    LoopEnd(f32),
    /// Write the screen as it is now to a PBM image.
    Screenshot(std::path::PathBuf),
    Quit,
}
