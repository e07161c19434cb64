//! The device's control logic: turns what the controls report ([`Input`]) into engine actions,
//! pad selections and patch saves ([`Effect`]), and keeps the [`ScreenModel`] the screens draw.
//! It owns the device state (knob readings, corner selections, grid position, tuning, the
//! patch-button gesture, the screen timeout), the patch store and the MIDI CC map with MIDI
//! learn. It runs on the UI thread at frame rate; it never touches hardware, never blocks on
//! anything but a patch or learned-map save, and never talks to the audio thread except through
//! the effects it returns.

use std::path::PathBuf;

use crate::engine::{Action, Knobs, Param, MAX_FINE_TUNE, MAX_TRANSPOSE};
use crate::input::{Input, McuFrame, BUTTONS, ENCODERS, POTS};
use crate::midi::{CcMap, CcReader, Control, ControlMove, LearnedMapError};
use crate::pad::{pad_file_name, touch_fraction, Target, TOUCH_GRID};
use crate::patch::{Patch, PatchError, PatchStore};
use crate::settings::{Instrument, Settings};
use crate::ui::{CornerView, PatchPhase, PatchView, Screen, ScreenModel};

/// Knob screens and scrollers go back home after this long without a change.
const SCREEN_TIMEOUT: f32 = 1.0;
/// A patch button released within this long loads its slot.
const SHORT_PRESS: f32 = 0.25;
/// A patch button held this long saves its slot.
const SAVE_HOLD: f32 = 0.75;
/// How long "PATCH k" stays up after a load.
const LOADED_SHOWN: f32 = 0.25;
/// How long "EMPTY" stays up after a short press on an empty slot: long enough to read.
const EMPTY_SHOWN: f32 = 1.0;
/// A hardware reading must move more than this from the last registered one to count as a turn:
/// the original's threshold, now measured cumulatively so slow turns register too.
const POT_DEAD_BAND: u8 = 2;
/// Every knob before the first reading, as in the original.
const START_POT: u8 = 127;
/// The grid cell selected at power-on.
const START_CELL: u8 = 5;
/// The largest touch cell on either axis.
const LAST_CELL: u8 = TOUCH_GRID - 1;
/// The engine parameter of each pot, in pot order.
const PARAMS: [Param; POTS] = [
    Param::Position,
    Param::Attack,
    Param::Decay,
    Param::Sustain,
    Param::Release,
    Param::Volume,
];

/// What the app must do because of an input or the passing of time.
#[derive(Debug)]
pub enum Effect {
    /// Send to the engine. Knob values are `pot/255`; the engine adds the attack offset itself.
    Engine(Action),
    /// Play from this pad and grid position from now on.
    Pad(Target),
    /// Something the user asked for did not happen; log it.
    Warning(ControlWarning),
    /// Something the user asked for happened and is worth telling; log it.
    Notice(ControlNotice),
}

#[derive(Debug, thiserror::Error)]
pub enum ControlNotice {
    #[error("MIDI learn: move the MIDI control that should set {}", .0.name())]
    Learning(Control),
    #[error("MIDI learn: CC {cc} now sets {}{}; saved to {}", control.name(), unmapped_note(unmapped), file.display())]
    Learned {
        control: Control,
        cc: u8,
        unmapped: Vec<Control>,
        file: PathBuf,
    },
}

/// ", which no longer sets volume, gridX" for the controls a learned CC was taken from.
fn unmapped_note(unmapped: &[Control]) -> String {
    if unmapped.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = unmapped.iter().map(|control| control.name()).collect();
    format!(" (and no longer sets {})", names.join(", "))
}

#[derive(Debug, thiserror::Error)]
pub enum ControlWarning {
    #[error("patch {}: corner {corner} has no instrument named `{name}`; nothing changed", slot + 1)]
    UnknownInstrument {
        slot: usize,
        corner: usize,
        name: String,
    },
    #[error("patch {} is kept until power-off but was not saved: {cause}", slot + 1)]
    NotSaved { slot: usize, cause: PatchError },
    #[error("there is no patch slot {slot}; slots are 0–3")]
    NoSuchSlot { slot: usize },
    #[error(
        "corner {corner}: there is no instrument {index} (corners are 0–3, each with its own list)"
    )]
    NoSuchInstrument { corner: usize, index: usize },
    #[error("MIDI learn: CC {cc} cannot set {}: {cause}", control.name())]
    NotLearned {
        control: Control,
        cc: u8,
        cause: crate::midi::CcMapError,
    },
    #[error("MIDI learn: CC {cc} sets {} until power-off but was not saved: {cause}", control.name())]
    LearnedNotSaved {
        control: Control,
        cc: u8,
        cause: LearnedMapError,
    },
}

/// One knob: the hardware reading changes are measured from, and the value in effect.
#[derive(Debug, Clone, Copy)]
struct Pot {
    /// The hardware reading when the knob last registered a turn.
    raw: u8,
    /// The value the engine and the screens use; software updates change only this.
    shown: u8,
}

impl Pot {
    /// A hardware reading; returns whether it counts as a turn. Comparing with the last
    /// registered reading rather than the previous poll lets slow turns accumulate, while a
    /// normal turn (more than the dead band per poll) registers exactly as in the original.
    /// The ends register without the dead band so a knob turned slowly to a stop reaches it.
    fn read(&mut self, reading: u8) -> bool {
        let moved = reading.abs_diff(self.raw);
        let turned = moved > POT_DEAD_BAND || (moved > 0 && matches!(reading, 0 | u8::MAX));
        if turned {
            self.raw = reading;
            self.shown = reading;
        }
        turned
    }
}

/// The device's state machine; see the module header.
pub struct Controller {
    corners: [Vec<Instrument>; 4],
    patches: PatchStore,
    model: ScreenModel,
    pots: [Pot; POTS],
    /// The first poll only initialises the knobs and encoder counters.
    polled: bool,
    /// Encoder counters of the last successful poll.
    rotary: [u8; ENCODERS],
    /// The touched cell of the last poll, `None` while no finger is on the pad.
    touch: Option<(u8, u8)>,
    /// The pad position as fractions 0–1 (finer than the cursor cell when set by `Input::Grid`).
    grid: (f32, f32),
    /// The patch button whose gesture is under way; kept when another screen cancels the gesture
    /// so that holding on does not restart it.
    active_button: Option<usize>,
    /// Seconds until the home screen comes back; 0 means none.
    timeout: f32,
    /// Which CC sets which control, and where MIDI learn saves it.
    cc_map: CcMap,
    cc_reader: CcReader,
    learned_file: PathBuf,
    /// The control MIDI learn gives the next CC to.
    learning: Option<Control>,
    tuning: Tuning,
    /// The slot last loaded or saved.
    last_patch: Option<usize>,
}

/// Transposition and fine tuning, as the engine has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Semitones, −24..24.
    pub transpose: i8,
    /// Cents, −100..100.
    pub fine_tune: f32,
}

impl Controller {
    /// The power-on state: first instrument of every corner, cell (5, 5), knobs at 127, home,
    /// the settings' tuning, and `cc_map` in force (see [`crate::midi::cc_map_in_force`]); MIDI
    /// learn saves beside the patch file.
    pub fn new(settings: &Settings, patches: PatchStore, cc_map: CcMap) -> Self {
        let corners = settings.corners.clone();
        let views = corners.each_ref().map(|list| CornerView {
            abbr: list.first().map(|i| i.abbr.clone()).unwrap_or_default(),
            names: list.iter().map(|i| i.display.clone()).collect(),
            selected: 0,
            direction: 0,
        });
        let start = touch_fraction(START_CELL);
        Self {
            corners,
            learned_file: crate::midi::learned_path(&patches.path),
            patches,
            model: ScreenModel {
                screen: Screen::Home,
                cursor: (START_CELL, START_CELL),
                corners: views,
                knobs: [0.5; POTS],
                stage: 0,
                patch: PatchView {
                    slot: 0,
                    phase: PatchPhase::Idle,
                    elapsed: 0.0,
                },
            },
            pots: [Pot {
                raw: START_POT,
                shown: START_POT,
            }; POTS],
            polled: false,
            rotary: [0; ENCODERS],
            touch: None,
            grid: (start, start),
            active_button: None,
            timeout: 0.0,
            cc_map,
            cc_reader: CcReader::default(),
            learning: None,
            tuning: Tuning {
                transpose: settings.midi.transpose,
                fine_tune: settings.midi.fine_tune,
            },
            last_patch: None,
        }
    }

    /// What the screens show.
    pub fn model(&self) -> &ScreenModel {
        &self.model
    }

    /// The pad and position that should be playing now.
    pub fn pad_target(&self) -> Target {
        let names: [&str; 4] = std::array::from_fn(|corner| self.instrument(corner).name.as_str());
        Target {
            pad: pad_file_name(&names),
            x: self.grid.0,
            y: self.grid.1,
        }
    }

    /// The control MIDI learn is waiting to map, if any.
    pub fn learning(&self) -> Option<Control> {
        self.learning
    }

    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    /// The patch slot last loaded or saved, if any.
    pub fn last_patch(&self) -> Option<usize> {
        self.last_patch
    }

    /// The knob values in effect, for starting the engine.
    pub fn knobs(&self) -> Knobs {
        let [position, attack, decay, sustain, release, volume] =
            self.pots.map(|pot| normalised(pot.shown));
        Knobs {
            position,
            attack,
            decay,
            sustain,
            release,
            volume,
        }
    }

    /// Acts on one input.
    pub fn handle(&mut self, input: Input, effects: &mut Vec<Effect>) {
        match input {
            Input::Poll(frame) => self.poll(&frame, effects),
            Input::Button { button, pressed } => self.button(button, pressed, effects),
            Input::Pot { pot, value } => self.turn_pot(pot, value, effects),
            Input::PotStep { pot, delta } => {
                if let Some(current) = self.pots.get(pot) {
                    let value = (i32::from(current.shown) + i32::from(delta)).clamp(0, 255);
                    self.turn_pot(pot, value as u8, effects);
                }
            }
            Input::Rotary { encoder, delta } => {
                if encoder < self.corners.len() && delta != 0 {
                    self.rotate(encoder, i64::from(delta), effects);
                }
            }
            Input::Touch { x, y } => {
                if x <= LAST_CELL && y <= LAST_CELL {
                    self.touch_cell(x, y, effects);
                }
            }
            Input::Grid { x, y } => {
                if x.is_finite() && y.is_finite() {
                    self.move_to(x.clamp(0.0, 1.0), y.clamp(0.0, 1.0), effects);
                }
            }
            Input::Instrument { corner, index } => self.choose_instrument(corner, index, effects),
            Input::PatchLoad(slot) => {
                if !self.load(slot, effects) {
                    self.show_empty(slot);
                }
            }
            Input::PatchSave(slot) => {
                self.save(slot, effects);
            }
            Input::Cc { controller, value } => self.midi_cc(controller, value, effects),
            Input::Program(slot) => self.short_press(slot, effects),
            Input::Learn(control) => {
                self.learning = Some(control);
                effects.push(Effect::Notice(ControlNotice::Learning(control)));
            }
            Input::Transpose(semitones) => {
                self.tuning.transpose = semitones.clamp(-MAX_TRANSPOSE, MAX_TRANSPOSE);
                effects.push(Effect::Engine(Action::Transpose(self.tuning.transpose)));
            }
            Input::FineTune(cents) => {
                if cents.is_finite() {
                    self.tuning.fine_tune = cents.clamp(-MAX_FINE_TUNE, MAX_FINE_TUNE);
                    effects.push(Effect::Engine(Action::FineTune(self.tuning.fine_tune)));
                }
            }
        }
    }

    /// A MIDI control change: taken by MIDI learn if it is waiting, else moved through the map.
    fn midi_cc(&mut self, controller: u8, value: u8, effects: &mut Vec<Effect>) {
        if let Some(control) = self.learning.take() {
            self.learn(control, controller, effects);
            return;
        }
        if let Some(moved) = self.cc_reader.read(&self.cc_map, controller, value) {
            self.move_control(moved, effects);
        }
    }

    /// Moves a control as its knob, the touch pad or its encoder would.
    fn move_control(&mut self, moved: ControlMove, effects: &mut Vec<Effect>) {
        let value = moved.value.clamp(0.0, 1.0);
        match moved.control {
            Control::GridX => self.move_to(value, self.grid.1, effects),
            Control::GridY => self.move_to(self.grid.0, value, effects),
            Control::Corner(corner) => {
                let Some(count) = self.corners.get(corner).map(Vec::len) else {
                    return;
                };
                // The CC's 128 values spread evenly over the corner's list.
                let step = (value * 127.0).round() as usize;
                let index = (step * count / 128).min(count - 1);
                self.choose_instrument(corner, index, effects);
            }
            knob => {
                // The knobs lead the controls, in pot order.
                if let Some(pot) = Control::ALL[..POTS].iter().position(|&c| c == knob) {
                    self.turn_pot(pot, (value * 255.0).round() as u8, effects);
                }
            }
        }
    }

    /// Makes `cc` the map of `control` and saves the map beside the patch file.
    fn learn(&mut self, control: Control, cc: u8, effects: &mut Vec<Effect>) {
        let unmapped = match self.cc_map.learn(control, cc) {
            Ok(unmapped) => unmapped,
            Err(cause) => {
                effects.push(Effect::Warning(ControlWarning::NotLearned {
                    control,
                    cc,
                    cause,
                }));
                return;
            }
        };
        self.cc_reader = CcReader::default();
        match crate::midi::save_learned(&self.learned_file, &self.cc_map) {
            Ok(()) => effects.push(Effect::Notice(ControlNotice::Learned {
                control,
                cc,
                unmapped,
                file: self.learned_file.clone(),
            })),
            Err(cause) => effects.push(Effect::Warning(ControlWarning::LearnedNotSaved {
                control,
                cc,
                cause,
            })),
        }
    }

    /// Advances the patch gesture and the screen timeout by `dt` seconds (once per frame, in
    /// that order, as the original's draw does).
    pub fn tick(&mut self, dt: f32, effects: &mut Vec<Effect>) {
        let dt = if dt.is_finite() { dt.max(0.0) } else { 0.0 };
        let patch = &mut self.model.patch;
        if patch.phase != PatchPhase::Idle {
            patch.elapsed += dt;
            match patch.phase {
                PatchPhase::Started if patch.elapsed >= SAVE_HOLD => {
                    let slot = patch.slot;
                    if self.save(slot, effects) {
                        self.model.patch.phase = PatchPhase::Saved;
                        self.model.patch.elapsed = 0.0;
                    } else {
                        // The blink would claim a save that did not happen.
                        self.show(Screen::Home);
                    }
                }
                PatchPhase::Loaded if patch.elapsed >= LOADED_SHOWN => self.show(Screen::Home),
                PatchPhase::Empty if patch.elapsed >= EMPTY_SHOWN => self.show(Screen::Home),
                _ => {}
            }
        }
        if self.timeout > 0.0 {
            self.timeout -= dt;
            if self.timeout <= 0.0 {
                self.show(Screen::Home);
            }
        }
    }

    /// A successful poll: knobs, then encoders, then touch, so a touch overrides the others.
    fn poll(&mut self, frame: &McuFrame, effects: &mut Vec<Effect>) {
        if self.polled {
            for (pot, &reading) in frame.pots.iter().enumerate() {
                let before = self.pots[pot].shown;
                let turned = self.pots[pot].read(reading);
                self.send_pot(pot, before, effects);
                if turned {
                    self.show_pot(pot);
                }
            }
            self.show_knobs();
            for (encoder, &count) in frame.rotary.iter().enumerate() {
                // The counters wrap, so the difference is read as a signed byte.
                let delta = count.wrapping_sub(self.rotary[encoder]) as i8;
                self.rotary[encoder] = count;
                if delta != 0 {
                    self.rotate(encoder, i64::from(delta), effects);
                }
            }
        } else {
            self.polled = true;
            for (pot, &reading) in frame.pots.iter().enumerate() {
                let before = self.pots[pot].shown;
                self.pots[pot] = Pot {
                    raw: reading,
                    shown: reading,
                };
                self.send_pot(pot, before, effects);
            }
            self.rotary = frame.rotary;
        }
        let [x, y] = frame.touch;
        if x <= LAST_CELL && y <= LAST_CELL {
            // Only a new touch or a new cell counts: a resting finger must not pre-empt other
            // screens or cancel a patch gesture every poll.
            if self.touch != Some((x, y)) {
                self.touch = Some((x, y));
                self.touch_cell(x, y, effects);
            }
        } else {
            self.touch = None;
        }
    }

    /// A knob set by software: takes effect at once and shows its screen if it changed.
    fn turn_pot(&mut self, pot: usize, value: u8, effects: &mut Vec<Effect>) {
        if pot < POTS && self.set_pot(pot, value, effects) {
            self.show_pot(pot);
        }
    }

    /// Sets a knob's value in effect (not its hardware reading); returns whether it changed.
    fn set_pot(&mut self, pot: usize, value: u8, effects: &mut Vec<Effect>) -> bool {
        let before = self.pots[pot].shown;
        self.pots[pot].shown = value;
        self.send_pot(pot, before, effects);
        self.show_knobs();
        value != before
    }

    fn send_pot(&self, pot: usize, before: u8, effects: &mut Vec<Effect>) {
        let shown = self.pots[pot].shown;
        if shown != before {
            effects.push(Effect::Engine(Action::Set(PARAMS[pot], normalised(shown))));
        }
    }

    fn show_knobs(&mut self) {
        self.model.knobs = self.pots.map(|pot| normalised(pot.shown));
    }

    fn show_pot(&mut self, pot: usize) {
        let screen = match pot {
            0 => Screen::Position,
            1..=4 => {
                self.model.stage = pot - 1;
                Screen::Envelope
            }
            _ => Screen::Volume,
        };
        self.show(screen);
    }

    /// Makes `screen` the active one. Every screen but the patch screen ends a patch gesture.
    fn show(&mut self, screen: Screen) {
        if screen != Screen::Patch {
            self.model.patch.phase = PatchPhase::Idle;
            self.model.patch.elapsed = 0.0;
        }
        self.timeout = match screen {
            Screen::Home | Screen::Patch => 0.0,
            _ => SCREEN_TIMEOUT,
        };
        self.model.screen = screen;
    }

    /// Steps a corner's selection by `delta` detents, wrapping both ways for any list length.
    fn rotate(&mut self, corner: usize, delta: i64, effects: &mut Vec<Effect>) {
        let count = self.corners[corner].len() as i64;
        let view = &mut self.model.corners[corner];
        let index = (view.selected as i64 + delta).rem_euclid(count) as usize;
        view.direction = delta.signum() as i8;
        self.show(Screen::Instrument(corner));
        let before = self.pad_target();
        self.select(corner, index);
        self.retarget(before, effects);
    }

    /// Selects an instrument directly, as a scroller turn to it would.
    fn choose_instrument(&mut self, corner: usize, index: usize, effects: &mut Vec<Effect>) {
        if self
            .corners
            .get(corner)
            .is_none_or(|list| index >= list.len())
        {
            effects.push(Effect::Warning(ControlWarning::NoSuchInstrument {
                corner,
                index,
            }));
            return;
        }
        let selected = self.model.corners[corner].selected;
        if index != selected {
            self.model.corners[corner].direction = if index > selected { 1 } else { -1 };
        }
        self.show(Screen::Instrument(corner));
        let before = self.pad_target();
        self.select(corner, index);
        self.retarget(before, effects);
    }

    /// The selected instrument of a corner.
    fn instrument(&self, corner: usize) -> &Instrument {
        &self.corners[corner][self.model.corners[corner].selected]
    }

    fn select(&mut self, corner: usize, index: usize) {
        let view = &mut self.model.corners[corner];
        view.selected = index;
        view.abbr.clone_from(&self.corners[corner][index].abbr);
    }

    /// Announces the pad target if it differs from `before`.
    fn retarget(&self, before: Target, effects: &mut Vec<Effect>) {
        let now = self.pad_target();
        if now != before {
            effects.push(Effect::Pad(now));
        }
    }

    fn touch_cell(&mut self, x: u8, y: u8, effects: &mut Vec<Effect>) {
        let before = self.pad_target();
        self.model.cursor = (x, y);
        self.grid = (touch_fraction(x), touch_fraction(y));
        self.show(Screen::Home);
        self.retarget(before, effects);
    }

    /// Moves the pad position to fractions 0–1 and the cursor to the nearest cell.
    fn move_to(&mut self, x: f32, y: f32, effects: &mut Vec<Effect>) {
        let before = self.pad_target();
        let nearest = |f: f32| (f * f32::from(LAST_CELL)).round() as u8;
        self.model.cursor = (nearest(x), nearest(y));
        self.grid = (x, y);
        self.show(Screen::Home);
        self.retarget(before, effects);
    }

    fn button(&mut self, button: usize, pressed: bool, effects: &mut Vec<Effect>) {
        if button >= BUTTONS {
            return;
        }
        if pressed {
            if self.active_button != Some(button) {
                self.active_button = Some(button);
                self.model.patch = PatchView {
                    slot: button,
                    phase: PatchPhase::Started,
                    elapsed: 0.0,
                };
                self.show(Screen::Patch);
            }
            return;
        }
        if self.active_button != Some(button) {
            return;
        }
        self.active_button = None;
        match self.model.patch.phase {
            PatchPhase::Started if self.model.patch.elapsed <= SHORT_PRESS => {
                self.short_press(button, effects);
            }
            // A release between the short press and the save, or after the save.
            PatchPhase::Started | PatchPhase::Saved => self.show(Screen::Home),
            PatchPhase::Idle | PatchPhase::Loaded | PatchPhase::Empty => {}
        }
    }

    /// Loads `slot` and shows "PATCH k" (or "EMPTY"), as a short press of its button does.
    fn short_press(&mut self, slot: usize, effects: &mut Vec<Effect>) {
        if slot >= BUTTONS {
            effects.push(Effect::Warning(ControlWarning::NoSuchSlot { slot }));
            return;
        }
        self.model.patch = PatchView {
            slot,
            phase: PatchPhase::Loaded,
            elapsed: 0.0,
        };
        self.show(Screen::Patch);
        if !self.load(slot, effects) {
            self.show_empty(slot);
        }
    }

    /// Recalls a slot: knobs (as software values, no screen change), corners and grid. Nothing
    /// changes unless every corner still has the saved instrument. False for an empty slot.
    fn load(&mut self, slot: usize, effects: &mut Vec<Effect>) -> bool {
        let Some(stored) = self.patches.slots.get(slot) else {
            effects.push(Effect::Warning(ControlWarning::NoSuchSlot { slot }));
            return true;
        };
        let Some(patch) = stored else {
            return false;
        };
        let mut indices = [0; 4];
        for (corner, name) in patch.instruments.iter().enumerate() {
            match self.corners[corner].iter().position(|i| &i.name == name) {
                Some(index) => indices[corner] = index,
                None => {
                    effects.push(Effect::Warning(ControlWarning::UnknownInstrument {
                        slot,
                        corner,
                        name: name.clone(),
                    }));
                    return true;
                }
            }
        }
        let patch = patch.clone();
        let values = [
            patch.position,
            patch.attack,
            patch.decay,
            patch.sustain,
            patch.release,
        ];
        for (pot, value) in values.into_iter().enumerate() {
            self.set_pot(pot, (value.clamp(0.0, 1.0) * 255.0).round() as u8, effects);
        }
        let before = self.pad_target();
        for (corner, index) in indices.into_iter().enumerate() {
            self.select(corner, index);
        }
        let [x, y] = patch.grid.map(|g| g.clamp(0.0, 1.0));
        // The original truncates, so cells saved as k/10 come back exactly; the position
        // itself keeps the saved fraction.
        let cell = |g: f32| (g * f32::from(LAST_CELL)).trunc() as u8;
        self.model.cursor = (cell(x), cell(y));
        self.grid = (x, y);
        self.retarget(before, effects);
        self.last_patch = Some(slot);
        true
    }

    /// Shows "EMPTY" for `slot` on the patch screen for a moment.
    fn show_empty(&mut self, slot: usize) {
        self.model.patch = PatchView {
            slot,
            phase: PatchPhase::Empty,
            elapsed: 0.0,
        };
        self.show(Screen::Patch);
    }

    /// Stores the current knobs, corners and grid in `slot` and rewrites the file; returns
    /// whether the file was written.
    fn save(&mut self, slot: usize, effects: &mut Vec<Effect>) -> bool {
        let knobs = self.knobs();
        let patch = Patch {
            position: knobs.position,
            attack: knobs.attack,
            decay: knobs.decay,
            sustain: knobs.sustain,
            release: knobs.release,
            instruments: std::array::from_fn(|corner| self.instrument(corner).name.clone()),
            grid: [self.grid.0, self.grid.1],
        };
        let Some(stored) = self.patches.slots.get_mut(slot) else {
            effects.push(Effect::Warning(ControlWarning::NoSuchSlot { slot }));
            return false;
        };
        *stored = Some(patch);
        match self.patches.save() {
            Ok(()) => {
                self.last_patch = Some(slot);
                true
            }
            Err(cause) => {
                effects.push(Effect::Warning(ControlWarning::NotSaved { slot, cause }));
                false
            }
        }
    }
}

fn normalised(pot: u8) -> f32 {
    f32::from(pot) / 255.0
}

#[cfg(test)]
mod tests;
