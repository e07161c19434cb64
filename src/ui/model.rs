//! What the screens show: the controller keeps this model up to date and the screens draw it.
//! Plain data, no drawing and no timing.

use crate::input::POTS;

/// Which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The particle grid with the cursor and the corner abbreviations.
    Home,
    /// The instrument scroller of one corner (0–3).
    Instrument(usize),
    Position,
    /// The envelope, highlighting [`ScreenModel::stage`].
    Envelope,
    Volume,
    /// "PATCH k" with the load / save-progress / saved band.
    Patch,
}

/// Where a patch-button gesture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchPhase {
    /// No gesture.
    Idle,
    /// A button is held; after 0.25 s the save progress bar fills until 0.75 s.
    Started,
    /// The slot was just saved: the band blinks off for 0.1 s, then stays solid.
    Saved,
    /// A short press loaded the slot.
    Loaded,
    /// A short press found the slot empty: "EMPTY" is shown and nothing changed.
    Empty,
}

/// The patch gesture as the patch screen draws it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatchView {
    /// Slot 0–3, shown as 1–4.
    pub slot: usize,
    pub phase: PatchPhase,
    /// Seconds since the phase began.
    pub elapsed: f32,
}

/// One corner's instruments as the home screen and scroller show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CornerView {
    /// Two-letter label of the selected instrument.
    pub abbr: String,
    /// Display names of every instrument of the corner, in settings order.
    pub names: Vec<String>,
    pub selected: usize,
    /// Direction of the last change: +1, −1, or 0 before any.
    pub direction: i8,
}

/// Everything the screens draw.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenModel {
    pub screen: Screen,
    /// The selected touch cell, 0–10 each; starts at (5, 5).
    pub cursor: (u8, u8),
    /// Top-left, top-right, bottom-left, bottom-right.
    pub corners: [CornerView; 4],
    /// Displayed knob values 0–1: position, attack, decay, sustain, release, volume
    /// (0.5 each before the first reading, as the original shows).
    pub knobs: [f32; POTS],
    /// The envelope stage last changed: 0 attack … 3 release.
    pub stage: usize,
    pub patch: PatchView,
}
