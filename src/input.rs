//! What the controls report, from any source: the input microcontroller's polls, the patch
//! buttons, the simulator's keyboard, OSC, MIDI control changes. The controller turns these into
//! sound and screens.

use crate::midi::Control;

/// The number of knobs (pots): position, attack, decay, sustain, release, volume.
pub const POTS: usize = 6;
/// Corner encoders (rotaries), one per corner.
pub const ENCODERS: usize = 4;
/// Patch buttons (the encoders' push switches).
pub const BUTTONS: usize = 4;

/// One successful poll of the input microcontroller, checksum verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McuFrame {
    /// Touch X and Y, 0–10 each (0 = left / top); 0xFF on either axis means no touch.
    pub touch: [u8; 2],
    /// Wrapping 8-bit counters of the four encoders.
    pub rotary: [u8; ENCODERS],
    /// Knob values 0–255: position, attack, decay, sustain, release, volume.
    pub pots: [u8; POTS],
}

/// Something a person (or a remote controller) did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    /// A poll of the microcontroller: knobs, encoders and touch, processed in the original's order.
    Poll(McuFrame),
    /// A patch button went down or up.
    Button {
        button: usize,
        pressed: bool,
    },
    /// A knob set by software (keyboard, OSC, patch): takes effect at once, shows its screen if it
    /// changed.
    Pot {
        pot: usize,
        value: u8,
    },
    /// A knob moved by software relative to its displayed value (keyboard ±5), clamped to 0–255.
    PotStep {
        pot: usize,
        delta: i16,
    },
    /// An encoder turned by software (keyboard, OSC), in detents.
    Rotary {
        encoder: usize,
        delta: i32,
    },
    /// A touch-grid cell chosen by software (mouse, OSC), 0–10 each.
    Touch {
        x: u8,
        y: u8,
    },
    /// A grid position as fractions 0–1 (OSC `/grid`); finer than the touch cells when grid
    /// interpolation is on.
    Grid {
        x: f32,
        y: f32,
    },
    /// Select an instrument of a corner directly (OSC `/instrument`).
    Instrument {
        corner: usize,
        index: usize,
    },
    /// Load or save a patch slot 0–3 directly (OSC), without the button gestures.
    PatchLoad(usize),
    PatchSave(usize),
    /// A MIDI control change (not one the engine plays, like the pedal): the CC map turns it into
    /// a control move, or MIDI learn takes it.
    Cc {
        controller: u8,
        value: u8,
    },
    /// A MIDI program change 0–3: loads that patch slot as a short press of its button does.
    Program(usize),
    /// MIDI learn: the next [`Input::Cc`] becomes the map of this control.
    Learn(Control),
    /// Transpose the notes played from now on, in semitones −24..24.
    Transpose(i8),
    /// Fine-tune every voice, in cents −100..100.
    FineTune(f32),
}
